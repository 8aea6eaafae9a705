// Horizontal scale benchmark: one vs two server instances on one PostgreSQL (+ Redis when
// REDIS_URL is set), behind the same round-robin proxy, under a short FHIR create/read load; then
// the failover gap when one of two instances is SIGKILLed under load.
//
//   npm run bench:scale
//
// Environment: BENCH_SCALE_SECONDS=8 (per phase), BENCH_SCALE_CONCURRENCY=8, BENCH_ADMIN_URL.
// On a 2-core machine expect little gain from a second instance: both share the same cores and
// the same database. The point is that the numbers hold and the failover is short.
import { randomBytes, randomUUID } from 'node:crypto';
import { clientToken, type ServerChild, spawnServer, startRoundRobinProxy } from '../../test/cluster.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { benchJournalDir } from './lib/server-process.ts';
import { fmtMs, log, printTable } from './lib/table.ts';

const SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_SCALE_CONCURRENCY ?? 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PhaseResult {
  ok: number;
  failed: number;
  p50: number;
  p95: number;
  rps: number;
  failureTimes: number[];
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : 0;
}

/** CONCURRENCY loops alternating a create and a read of what was created, for `seconds`. */
async function load(fhir: string, token: string, seconds: number, during?: () => Promise<void>): Promise<PhaseResult> {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const latencies: number[] = [];
  const failureTimes: number[] = [];
  let stop = false;
  const started = performance.now();
  const loop = async (w: number) => {
    let last: string | undefined;
    let i = 0;
    while (!stop) {
      const t0 = performance.now();
      try {
        const read = last !== undefined && i++ % 2 === 1;
        const res = await fetch(read ? `${fhir}Patient/${last}` : `${fhir}Patient`, {
          method: read ? 'GET' : 'POST',
          headers,
          body: read ? undefined : JSON.stringify({ resourceType: 'Patient', name: [{ family: `Bench${w}`, given: [String(i)] }] }),
          signal: AbortSignal.timeout(5_000),
        });
        const body = (await res.json()) as { id?: string };
        if (res.ok) {
          latencies.push(performance.now() - t0);
          if (!read) last = body.id;
        } else failureTimes.push(performance.now());
      } catch {
        failureTimes.push(performance.now());
      }
    }
  };
  const loops = Array.from({ length: CONCURRENCY }, (_, w) => loop(w));
  if (during) await during();
  await sleep(Math.max(0, seconds * 1000 - (performance.now() - started)));
  stop = true;
  await Promise.all(loops);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ok: latencies.length,
    failed: failureTimes.length,
    p50: pct(latencies, 50),
    p95: pct(latencies, 95),
    rps: latencies.length / elapsed,
    failureTimes,
  };
}

runMain(async () => {
  const name = scratchName('bench_scale');
  const databaseUrl = await createDatabase(ADMIN_URL, name);
  onCleanup('drop database', () => dropDatabase(ADMIN_URL, name));
  const admin = { clientId: randomUUID(), clientSecret: randomBytes(32).toString('hex') };
  // The instances' audit journal: killed ones leave segments there, removed at the end.
  const journalDir = benchJournalDir();
  const proxy = await startRoundRobinProxy();
  onCleanup('proxy', () => proxy.close());
  const servers: ServerChild[] = [];
  onCleanup('servers', () => Promise.all(servers.map((s) => s.kill())).then(() => undefined));
  const add = async (n: string) => {
    const s = await spawnServer({ name: n, databaseUrl, admin, baseUrl: proxy.url, journalDir });
    servers.push(s);
    proxy.upstreams.push(s);
    return s;
  };
  log('starting instance a');
  await add('a');
  const token = await clientToken(proxy.url, admin);
  const fhir = `${proxy.url}fhir/R4/`;
  await load(fhir, token, 2); // warm-up
  log(`one instance: ${SECONDS} s of create/read at concurrency ${CONCURRENCY}`);
  const one = await load(fhir, token, SECONDS);
  log('starting instance b');
  await add('b');
  await load(fhir, token, 2);
  log(`two instances: ${SECONDS} s`);
  const two = await load(fhir, token, SECONDS);
  log('failover: SIGKILL instance a after 2 s of load');
  let killedAt = 0;
  const failover = await load(fhir, token, SECONDS, async () => {
    await sleep(2_000);
    killedAt = performance.now();
    await servers[0].kill();
  });
  const after = failover.failureTimes.filter((t) => t >= killedAt);
  const gap = after.length ? Math.max(...after) - killedAt : 0;
  printTable(
    `FHIR create/read through a round-robin proxy (concurrency ${CONCURRENCY}, ${SECONDS} s per phase)`,
    ['Setup', 'Requests OK', 'Failed', 'Throughput', 'p50', 'p95'],
    [
      ['1 instance', one.ok, one.failed, `${one.rps.toFixed(0)}/s`, fmtMs(one.p50), fmtMs(one.p95)],
      ['2 instances', two.ok, two.failed, `${two.rps.toFixed(0)}/s`, fmtMs(two.p50), fmtMs(two.p95)],
      ['2 → 1 (SIGKILL)', failover.ok, failover.failed, `${failover.rps.toFixed(0)}/s`, fmtMs(failover.p50), fmtMs(failover.p95)],
    ],
  );
  printTable(
    'Failover',
    ['Metric', 'Value'],
    [
      ['Requests that failed after the kill', after.length],
      ['Failover gap (kill → last failed request)', fmtMs(gap)],
      ['Proxy requests per instance (a/b)', proxy.forwarded.join(' / ')],
    ],
  );
});
