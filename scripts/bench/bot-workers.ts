// What a new bot worker costs (the pool grows in bursts: a cluster of device alarms, a cron sweep).
//
//   node scripts/bench/bot-workers.ts            (npm run bench:bot-workers)
//
// Each round starts a WorkerPool of one worker (server/bots/pool.ts, the server's own class), runs a
// trivial bot in it (the worker's start: thread, Node instance, worker.ts and @medplum/core loaded,
// plus one execution), then the first execution of each bot on the device-alarm path (its bundle
// compiled in the worker's vm), and closes the pool. CPU is this process's (all threads) over the
// round. Two ways, interleaved round by round:
// - "cold": a new, empty compile cache directory each round, i.e. what every worker paid before
//   workers shared the server's compile cache;
// - "compile cache": one directory, filled by a round before the measured ones, as a server's
//   workers find it once the first worker has run.
// No target: the figures explain a stall (docs/benchmarks.md, "Stop 27"). A worker runs at nice 0
// here; in the server it runs at BOT_NICE (10), so on busy cores its start takes longer.
//
// Environment: BENCH_ROUNDS (default 10).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { type PoolOptions, WorkerPool } from '../../server/bots/pool.ts';
import { bundleBot, readBotConfig } from '../deploy-bots.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { fmtMs, log, printTable } from './lib/table.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS) > 0 ? Number(process.env.BENCH_ROUNDS) : 10;
const ROOT = resolve(import.meta.dirname, '../..');
const ALARM_PATH_BOTS = ['smart-device', 'workflow', 'communication'];
const TRIVIAL = 'exports.handler = async () => 1;';

interface Round {
  startMs: number;
  startCpuMs: number;
  firstRunMs: Record<string, number>;
  totalCpuMs: number;
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

function execute(pool: WorkerPool, codeKey: string, code: string): Promise<unknown> {
  // The bots' requests go nowhere (port 1): a first execution is its bundle compiled and its handler
  // started, whatever the handler then makes of the refused connection.
  return pool.run(
    {
      codeKey,
      filename: `${codeKey}.js`,
      baseUrl: 'http://127.0.0.1:1/',
      accessToken: 'unused',
      logLimit: 1000,
      event: { bot: { reference: `Bot/${codeKey}` }, contentType: 'application/json', input: {}, secrets: {} },
    },
    code,
    30_000,
  );
}

async function round(bundles: Map<string, string>, compileCacheDir: string): Promise<Round> {
  const options: PoolOptions = {
    minWorkers: 0,
    maxWorkers: 1,
    reserveWorkers: 0,
    nice: 0,
    memoryMb: 128,
    idleWorkerMs: 0,
    compileCacheDir,
  };
  const pool = new WorkerPool(options, pino({ level: 'silent' }));
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await execute(pool, 'trivial', TRIVIAL);
    const startMs = performance.now() - t0;
    const startCpuMs = cpuMs(cpu0);
    const firstRunMs: Record<string, number> = {};
    for (const [name, code] of bundles) {
      const t = performance.now();
      await execute(pool, name, code);
      firstRunMs[name] = performance.now() - t;
    }
    return { startMs, startCpuMs, firstRunMs, totalCpuMs: cpuMs(cpu0) };
  } finally {
    await pool.close();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'es-bench-bot-workers-'));
  onCleanup('scratch directory', () => rmSync(work, { recursive: true, force: true }));
  const bots = readBotConfig(ROOT);
  const bundles = new Map<string, string>();
  for (const name of ALARM_PATH_BOTS) {
    const bot = bots.find((b) => b.name === name);
    if (!bot) throw new Error(`medplum.config.json has no bot ${name}`);
    bundles.set(name, await bundleBot(ROOT, { source: bot.source, dist: join(work, `${name}.js`) }));
  }
  log(
    `bundles: ${[...bundles].map(([n, c]) => `${n} ${(c.length / 1024).toFixed(0)} KB`).join(', ')}; load average ${loadavg()[0].toFixed(2)}`,
  );

  const shared = join(work, 'cache');
  await round(bundles, shared);
  const results = { cold: [] as Round[], cached: [] as Round[] };
  for (let i = 0; i < ROUNDS; i++) {
    results.cold.push(await round(bundles, mkdtempSync(join(work, 'cold-'))));
    results.cached.push(await round(bundles, shared));
  }
  const row = (label: string, rs: Round[]) => [
    label,
    fmtMs(median(rs.map((r) => r.startMs))),
    fmtMs(median(rs.map((r) => r.startCpuMs))),
    ...ALARM_PATH_BOTS.map((n) => fmtMs(median(rs.map((r) => r.firstRunMs[n])))),
    fmtMs(median(rs.map((r) => r.totalCpuMs))),
  ];
  printTable(
    `A new bot worker: start and first executions (medians of ${ROUNDS} interleaved rounds; load average ${loadavg()[0].toFixed(2)})`,
    ['compile cache', 'start + trivial run', 'its CPU', ...ALARM_PATH_BOTS.map((n) => `first ${n} run`), 'CPU, whole round'],
    [row('cold (empty)', results.cold), row("the server's, filled", results.cached)],
  );
}

runMain(main);
