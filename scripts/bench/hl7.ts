// HL7 v2 bridge benchmark.
//
//   node scripts/bench/hl7.ts            (npm run bench:hl7)
//
// Starts our server (child process, scratch database), deploys the hl7-inbound bot, and runs the
// bridge as its own child process (`hl7-bridge/main.ts`), then measures:
//   1. ACK: 4 MLLP connections each sending ADT^A01 as fast as ACKs come back, for BENCH_DURATION s
//      (default 15), conversion off: messages persisted (synchronous commit) and ACKed per second,
//      ACK latency p50/p99 (send → ACK at the client);
//   2. conversion: the bridge restarted with its conversion workers, converting that backlog
//      through the hl7-inbound bot into FHIR (Patient, Encounter, …): messages converted per second;
//   3. mixed: 4 connections sending at BENCH_MIXED_RATE msg/s (default 300) while conversion runs:
//      ACK latency under load and whether conversion keeps up (the queue does not grow).
// CPU per phase is split into bridge / server / PostgreSQL / loader / other, as % of one core, so
// results taken on a busy machine can be judged.
//
// Environment: BENCH_DURATION, BENCH_MIXED_RATE, BENCH_MIXED_DURATION, BENCH_WORKERS (conversion
// workers, default 2), BENCH_BATCH (messages per $execute, default 50), BENCH_BACKLOG (the ACK phase
// ends after this many messages, so A/B runs convert the same backlog), BENCH_ADMIN_URL,
// BENCH_SERVER_NODE_ARGS (extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MllpClient } from '../../hl7-bridge/mllp/client.ts';
import { adtA01 } from '../../hl7-bridge/test-corpus/messages.ts';
import { startBenchServer } from './lib/bench-server.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { type CpuUse, cpuBetween, cpuSnapshot, waitForQuiet } from './lib/cpu.ts';
import { freePort, REPO_ROOT } from './lib/server-process.ts';
import { type Check, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const DURATION = num(process.env.BENCH_DURATION, 15);
const MIXED_RATE = num(process.env.BENCH_MIXED_RATE, 300);
const MIXED_DURATION = num(process.env.BENCH_MIXED_DURATION, 15);
const WORKERS = num(process.env.BENCH_WORKERS, 2);
const BATCH = num(process.env.BENCH_BATCH, 50);
const BACKLOG = num(process.env.BENCH_BACKLOG, Number.POSITIVE_INFINITY);
const CONNECTIONS = 4;
const TARGETS = { ackRate: 1000, ackP99Ms: 20, conversionRate: 300 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface BridgeProcess {
  pid: number;
  stop(): Promise<void>;
}

/** Starts `node hl7-bridge/main.ts` and waits until its MLLP port answers. */
async function startBridgeProcess(env: Record<string, string>, port: number): Promise<BridgeProcess> {
  const child: ChildProcess = spawn(process.execPath, ['hl7-bridge/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const unregister = onCleanup(`stop bridge pid ${child.pid}`, () => {
    child.kill('SIGKILL');
  });
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the bridge exited with ${child.exitCode}`);
    const probe = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 300 });
    try {
      await probe.send(adtA01(0, { controlId: `PROBE-${Date.now()}` }), 2000);
      break;
    } catch {
      if (Date.now() > end) throw new Error('the bridge did not start');
      await sleep(100);
    } finally {
      probe.close();
    }
  }
  return {
    pid: child.pid as number,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      unregister();
    },
  };
}

/** CPU of every part during a phase. */
function cpuMeter(serverPid: number, bridgePid: number) {
  const a = { server: cpuSnapshot(serverPid), bridge: cpuSnapshot(bridgePid) };
  return (): CpuUse & { bridge: number } => {
    const server = cpuBetween(a.server, cpuSnapshot(serverPid));
    const bridge = cpuBetween(a.bridge, cpuSnapshot(bridgePid)).server;
    return { ...server, bridge, other: Math.max(0, server.other - bridge) };
  };
}

const fmtCpu = (c: CpuUse & { bridge: number }) =>
  `${c.bridge.toFixed(0)} / ${c.server.toFixed(0)} / ${c.postgres.toFixed(0)} / ${c.loader.toFixed(0)} / ${c.other.toFixed(0)}`;

/** CPU ticks (1/100 s) of one process or thread from its /proc stat line. */
function ticksOf(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** PostgreSQL backends serving the benchmark database only (not background processes shared with other work). */
function benchBackendTicks(database: string): number {
  let sum = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'postgres') continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (/^postgres: [^:]+: \S+ (\S+) /.exec(cmd)?.[1] === database) sum += ticksOf(`/proc/${name}/stat`);
    } catch {
      // the process went away
    }
  }
  return sum;
}

/**
 * Where the CPU of a phase went, in ms: the server's main thread (HTTP, FhirRouter, validation,
 * indexing), its other threads (bot workers, V8's GC and compiler helpers), the PostgreSQL
 * backends of this database. Process and thread CPU time, so less skewed by other work on the
 * machine than rates are.
 */
function threadMeter(serverPid: number, database: string) {
  const snap = () => ({
    main: ticksOf(`/proc/${serverPid}/task/${serverPid}/stat`),
    process: ticksOf(`/proc/${serverPid}/stat`),
    backends: benchBackendTicks(database),
  });
  const a = snap();
  return () => {
    const b = snap();
    return {
      main: (b.main - a.main) * 10,
      threads: (b.process - b.main - (a.process - a.main)) * 10,
      backends: (b.backends - a.backends) * 10,
    };
  };
}

let sequence = 0;
const nextMessage = () => {
  sequence++;
  return adtA01(sequence, { controlId: `BENCH-${sequence}` });
};

/** Connections send back to back (rate undefined) or paced to `rate` msg/s in total. */
async function load(
  seconds: number,
  rate?: number,
  limit = Number.POSITIVE_INFINITY,
): Promise<{ latencies: number[]; sent: number; ms: number }> {
  const latencies: number[] = [];
  const stopAt = performance.now() + seconds * 1000;
  const started = performance.now();
  const interval = rate ? (1000 * CONNECTIONS) / rate : 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const client = new MllpClient({ host: '127.0.0.1', port: bridgePort });
      let next = performance.now() + (interval * c) / CONNECTIONS;
      try {
        while (performance.now() < stopAt && latencies.length < limit) {
          if (interval) {
            const wait = next - performance.now();
            if (wait > 0) await sleep(wait);
            next += interval;
          }
          const text = nextMessage();
          const t0 = performance.now();
          const reply = await client.send(text, 10_000);
          latencies.push(performance.now() - t0);
          if (!/MSA\|(AA|CA)\|/.test(reply.toString('latin1'))) throw new Error(`not accepted: ${reply.toString('latin1')}`);
        }
      } finally {
        client.close();
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), sent: latencies.length, ms: performance.now() - started };
}

let bridgePort = 0;

async function main(): Promise<void> {
  const { dbUrl, creds, server } = await startBenchServer({
    prefix: 'es_bench_hl7',
    measureCpu: true,
    env: { HL7_BRIDGE: 'false', DEPLOY_BOTS: 'false', GRAPHQL_WARMUP: 'false' },
    bots: ['hl7-inbound'],
    nodeArgs: (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  });
  log(`server up on ${server.url} (pid ${server.pid})`);

  const dir = mkdtempSync(join(tmpdir(), 'bench-hl7-'));
  onCleanup('remove bench config', () => rmSync(dir, { recursive: true, force: true }));
  bridgePort = await freePort();
  writeFileSync(
    join(dir, 'channels.json'),
    JSON.stringify({
      inbound: [{ name: 'default', port: bridgePort, host: '127.0.0.1' }],
      conversion: { workers: WORKERS, batchSize: BATCH, leaseSeconds: 120 },
      api: { port: 0, host: '127.0.0.1' },
    }),
  );
  // The benchmark signs the bridge in with the admin client (a deployment gives it its own, role hl7-bridge).
  const bridgeEnv = {
    MEDPLUM_BASE_URL: server.url,
    MEDPLUM_CLIENT_ID: creds.clientId,
    MEDPLUM_CLIENT_SECRET: creds.clientSecret,
    HL7_DATABASE_URL: dbUrl,
    HL7_CHANNELS: join(dir, 'channels.json'),
    LOG_LEVEL: 'warn',
  };
  const sql = new pg.Pool({ connectionString: dbUrl, max: 1 });
  // Teardown drops the database WITH (FORCE): an idle connection ended by it is not a failure.
  sql.on('error', () => undefined);
  onCleanup('close pool', () => sql.end());
  // Polled while conversion runs: only the pending rows (the partial index message_pending_idx), not
  // the whole table, so the benchmark's own polling does not add to the PostgreSQL CPU it reports.
  const pendingCount = async () =>
    (
      await sql.query<{ pending: number }>(
        "SELECT count(*)::int AS pending FROM hl7.message WHERE status = 'pending' AND control_id LIKE 'BENCH-%'",
      )
    ).rows[0].pending;
  const counts = async () =>
    (
      await sql.query<{ pending: number; converted: number; errors: number }>(
        "SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'converted')::int AS converted, count(*) FILTER (WHERE status = 'error')::int AS errors FROM hl7.message WHERE control_id LIKE 'BENCH-%'",
      )
    ).rows[0];

  // 1. ACK throughput and latency, conversion off.
  let bridge = await startBridgeProcess({ ...bridgeEnv, HL7_CONVERSION_WORKERS: '0' }, bridgePort);
  await load(2, undefined, BACKLOG < Number.POSITIVE_INFINITY ? 500 : Number.POSITIVE_INFINITY); // warm-up (connections, JIT, the store's first inserts)
  await waitForQuiet(server.pid, 20);
  let meter = cpuMeter(server.pid, bridge.pid);
  const ack = await load(BACKLOG < Number.POSITIVE_INFINITY ? 600 : DURATION, undefined, BACKLOG);
  const ackCpu = meter();
  const ackRate = (ack.sent / ack.ms) * 1000;
  const ackP50 = percentile(ack.latencies, 50);
  const ackP99 = percentile(ack.latencies, 99);
  log(`ACK phase: ${ack.sent} messages, ${ackRate.toFixed(0)}/s, p50 ${ackP50.toFixed(2)} ms, p99 ${ackP99.toFixed(2)} ms`);
  await bridge.stop();

  // 2. Conversion of the backlog.
  await waitForQuiet(server.pid, 20);
  const convStart = performance.now();
  bridge = await startBridgeProcess({ ...bridgeEnv, HL7_CONVERSION_WORKERS: String(WORKERS) }, bridgePort);
  meter = cpuMeter(server.pid, bridge.pid);
  const threads = threadMeter(server.pid, new URL(dbUrl).pathname.slice(1));
  let c = await counts();
  const before = c.converted;
  for (;;) {
    await sleep(500);
    if ((await pendingCount()) === 0) break;
    if (performance.now() - convStart > 15 * 60_000) throw new Error(`conversion stalled: ${JSON.stringify(await counts())}`);
  }
  const convCpu = meter();
  const convThreads = threads();
  const convMs = performance.now() - convStart;
  c = await counts();
  const convRate = ((c.converted - before) / convMs) * 1000;
  log(`conversion: ${c.converted - before} messages in ${(convMs / 1000).toFixed(1)} s (${convRate.toFixed(0)}/s), ${c.errors} errors`);

  // 3. Mixed: steady ingest while conversion runs.
  await waitForQuiet(server.pid, 20);
  const mixedBefore = await counts();
  meter = cpuMeter(server.pid, bridge.pid);
  const mixed = await load(MIXED_DURATION, MIXED_RATE);
  const mixedCpu = meter();
  const afterLoad = await counts();
  const drainStart = performance.now();
  while ((await pendingCount()) > 0) await sleep(100);
  const drainMs = performance.now() - drainStart;
  const mixedRate = (mixed.sent / mixed.ms) * 1000;
  const mixedConverted = afterLoad.converted - mixedBefore.converted;
  const mixedConvRate = (mixedConverted / mixed.ms) * 1000;
  await bridge.stop();
  const final = await counts();

  printTable(
    `HL7 bridge (${CONNECTIONS} MLLP connections, ADT^A01, synchronous commit; ${WORKERS} conversion workers × ${BATCH} messages per $execute)`,
    ['Phase', 'Messages', 'Rate', 'ACK p50', 'ACK p99', 'CPU % bridge / server / pg / loader / other'],
    [
      ['ACK (persisted + ACKed, conversion off)', ack.sent, fmtRate(ackRate), fmtMs(ackP50), fmtMs(ackP99), fmtCpu(ackCpu)],
      ['Conversion of the backlog (bot → FHIR)', c.converted - before, fmtRate(convRate), '', '', fmtCpu(convCpu)],
      [
        `Mixed: ${MIXED_RATE}/s offered, conversion on`,
        mixed.sent,
        `${fmtRate(mixedRate)} ACKed, ${fmtRate(mixedConvRate)} converted`,
        fmtMs(percentile(mixed.latencies, 50)),
        fmtMs(percentile(mixed.latencies, 99)),
        fmtCpu(mixedCpu),
      ],
    ],
  );
  const perMsg = (cpu: CpuUse & { bridge: number }, rate: number) => ((cpu.bridge + cpu.server + cpu.postgres) / 100 / rate) * 1000;
  printTable(
    'CPU time per message (bridge + server + PostgreSQL)',
    ['Phase', 'CPU ms per message'],
    [
      ['ACK', perMsg(ackCpu, ackRate).toFixed(3)],
      ['Conversion', perMsg(convCpu, convRate).toFixed(2)],
    ],
  );
  const converted = c.converted - before;
  const perConverted = (ms: number) => (ms / Math.max(1, converted)).toFixed(2);
  printTable(
    'Conversion CPU per converted message by thread (ms; process/thread CPU time)',
    ['Server main thread', 'Server other threads (bot workers, GC)', 'PostgreSQL backends (this database)', 'Total'],
    [
      [
        perConverted(convThreads.main),
        perConverted(convThreads.threads),
        perConverted(convThreads.backends),
        perConverted(convThreads.main + convThreads.threads + convThreads.backends),
      ],
    ],
  );
  const checks: Check[] = [
    { metric: 'ADT^A01 persisted + ACKed', target: `≥ ${TARGETS.ackRate}/s`, measured: fmtRate(ackRate), pass: ackRate >= TARGETS.ackRate },
    { metric: 'ACK latency p99', target: `≤ ${TARGETS.ackP99Ms} ms`, measured: fmtMs(ackP99), pass: ackP99 <= TARGETS.ackP99Ms },
    {
      metric: 'Conversion throughput',
      target: `≥ ${TARGETS.conversionRate}/s`,
      measured: fmtRate(convRate),
      pass: convRate >= TARGETS.conversionRate,
    },
    {
      metric: `Conversion keeps up with ${MIXED_RATE}/s`,
      target: 'queue drained ≤ 5 s after load',
      measured: `${afterLoad.pending} pending at end, drained in ${(drainMs / 1000).toFixed(1)} s`,
      pass: drainMs <= 5000,
    },
    { metric: 'Conversion errors', target: '0', measured: String(final.errors), pass: final.errors === 0 },
  ];
  printChecks('Targets', checks);
  process.stdout.write(
    `\nMachine: ${CONNECTIONS} connections on this host; CPU columns are % of one core (2 cores = 200 %); "other" is everything else on the machine; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.\n`,
  );
  await server.stop();
}

runMain(main);
