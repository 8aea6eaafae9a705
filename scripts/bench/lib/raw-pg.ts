// How fast can PostgreSQL on this machine take the same writes without the server in between?
import pg from 'pg';
import { type LoadResult, percentile } from './load.ts';
import { assertLocal } from './pg.ts';

export interface LoopOptions {
  name: string;
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  /** Hard cap on operations per worker. */
  maxPerWorker: number;
  /** Operation `n` on worker `w`. */
  op: (w: number, n: number) => Promise<unknown>;
}

/** `concurrency` workers each running `op` back to back; warmup first, then a timed run. */
export async function concurrentLoop(o: LoopOptions): Promise<LoadResult> {
  let n = 0;
  let failed = 0;
  let firstError: unknown;
  const loop = async (w: number, seconds: number, record: number[] | undefined) => {
    const deadline = performance.now() + seconds * 1000;
    for (let k = 0; k < o.maxPerWorker && performance.now() < deadline; k++) {
      const s = performance.now();
      try {
        await o.op(w, n++);
        record?.push(performance.now() - s);
      } catch (err) {
        failed++;
        firstError ??= err;
      }
    }
  };
  const workers = Array.from({ length: o.concurrency }, (_, w) => w);
  await Promise.all(workers.map((w) => loop(w, o.warmupSeconds, undefined)));
  failed = 0;
  const latencies: number[][] = workers.map(() => []);
  const t0 = performance.now();
  await Promise.all(workers.map((w) => loop(w, o.seconds, latencies[w])));
  const seconds = (performance.now() - t0) / 1000;
  if (firstError && failed > 0) {
    process.stderr.write(`${o.name}: ${failed} operations failed, e.g. ${(firstError as Error).message}\n`);
  }
  const all = Float64Array.from(latencies.flat()).sort();
  let sum = 0;
  for (const v of all) sum += v;
  return {
    name: o.name,
    connections: o.concurrency,
    seconds,
    ok: all.length,
    failed,
    statusCodes: {},
    rps: all.length / seconds,
    p50: percentile(all, 50),
    p90: percentile(all, 90),
    p95: percentile(all, 95),
    p99: percentile(all, 99),
    max: all[all.length - 1],
    mean: sum / all.length,
    resolution: '0.001 ms',
  };
}

/** Opens `n` connections; the caller ends them. */
export async function openClients(url: string, n: number): Promise<pg.Client[]> {
  assertLocal(url);
  return Promise.all(
    Array.from({ length: n }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
}

export const RAW_TABLES_SQL = `
  DROP TABLE IF EXISTS bench_raw, bench_raw_history;
  CREATE TABLE bench_raw (id uuid PRIMARY KEY, content text NOT NULL);
  CREATE TABLE bench_raw_history (version_id uuid PRIMARY KEY, id uuid NOT NULL, content text NOT NULL);
  CREATE INDEX bench_raw_history_id_idx ON bench_raw_history (id);`;

export const RAW_DROP_SQL = 'DROP TABLE IF EXISTS bench_raw, bench_raw_history';

export const RAW_INSERT_SQL = 'INSERT INTO bench_raw (id, content) VALUES ($1, $2)';

export const RAW_INSERT_WITH_HISTORY_SQL = `WITH r AS (INSERT INTO bench_raw (id, content) VALUES ($1, $3))
  INSERT INTO bench_raw_history (version_id, id, content) VALUES ($2, $1, $3)`;
