// Subscription → bot benchmark (issue 4's targets).
//
//   node scripts/bench/subscriptions.ts            (npm run bench:subscriptions)
//
// A trivial Bot is deployed with $deploy and triggered by a rest-hook Subscription
// (`Observation?code=bench` → `Bot/{id}`), on a fresh scratch database with `node server/index.ts`
// as a child process.
//
// 1. Latency: writes at BENCH_RATE/s (default 100) for BENCH_DURATION s (default 10). The bot's
//    first statement takes `Date.now()` and sends it with the write's marker to a receiver in this
//    process (the receiving time does not matter: the timestamp travels in the body). The commit
//    time is the write's `meta.lastUpdated`, which the server stamps right before the single SQL
//    statement that writes and commits the resource: "handler start − lastUpdated" is the time from
//    commit to handler start, over-estimated by the statement's own duration (both clocks are this
//    machine's wall clock, millisecond resolution). "2xx reply → handler start" is printed too (it
//    can be negative: the bot may start before the client has read the reply).
// 2. Throughput: BENCH_BACKLOG (default 5000) Observations are written while no instance runs
//    delivery workers (SUBSCRIPTION_WORKERS=false), then one instance with workers starts and
//    drains the backlog to the same bot (which returns at once for these). Rate = deliveries /
//    (last − first `delivered_at`), CPU of the server and PostgreSQL per delivery from /proc.
//
// Environment: BENCH_RATE, BENCH_DURATION, BENCH_BACKLOG, BENCH_PROF, BENCH_ADMIN_URL (see lib/pg.ts).
import { createServer } from 'node:http';
import type { Bot, Bundle, Observation } from '@medplum/fhirtypes';
import { accessToken, authHeaders, credentialsFor, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { cpuBetween, cpuSnapshot, setBenchDatabase, waitForQuiet } from './lib/cpu.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName, withClient } from './lib/pg.ts';
import { type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { type Check, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const RATE = num(process.env.BENCH_RATE, 100);
const DURATION = num(process.env.BENCH_DURATION, 10);
const BACKLOG = num(process.env.BENCH_BACKLOG, 5000);
const TARGETS = { p50Ms: 10, p99Ms: 50, throughput: 500 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The trivial bot: reports its start time for latency markers, returns at once otherwise. */
function botCode(receiverUrl: string): string {
  return `exports.handler = async function (medplum, event) {
  const startedAt = Date.now();
  const id = event.input && event.input.identifier && event.input.identifier[0];
  if (id && id.system === 'urn:bench:lat') {
    await fetch(${JSON.stringify(receiverUrl)}, { method: 'POST', body: JSON.stringify({ m: id.value, t: startedAt }) });
  }
  return startedAt;
};`;
}

async function main(): Promise<void> {
  const name = scratchName('es_bench_subs');
  const dbUrl = await createDatabase(ADMIN_URL, name);
  setBenchDatabase(name);
  onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));

  // Handler start times reported by the bot, per marker.
  const starts = new Map<string, number>();
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { m, t } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { m: string; t: number };
      if (!starts.has(m)) starts.set(m, t);
      res.statusCode = 204;
      res.end();
    });
  });
  receiver.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  onCleanup('close receiver', () => new Promise<void>((r) => receiver.close(() => r())));
  const addr = receiver.address();
  const receiverUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/start`;

  const creds = await credentialsFor(dbUrl);
  const baseEnv = { ...serverEnv(creds), GRAPHQL_WARMUP: 'false' };
  let server: ServerProcess = await startServerProcess({ databaseUrl: dbUrl, env: baseEnv });
  log(`server healthy in ${server.startToHealthyMs.toFixed(0)} ms`);
  const token = await accessToken(server.url, creds);
  const headers = { ...authHeaders(token), 'content-type': 'application/fhir+json' };
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${server.fhirUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const bot = await post<Bot & { id: string }>('Bot', { resourceType: 'Bot', name: 'bench-trivial', runtimeVersion: 'vmcontext' });
  await post(`Bot/${bot.id}/$deploy`, { code: botCode(receiverUrl), filename: 'index.js' });
  await post('Subscription', {
    resourceType: 'Subscription',
    status: 'active',
    reason: 'bench',
    criteria: 'Observation?code=bench',
    channel: { type: 'rest-hook', endpoint: `Bot/${bot.id}` },
  });
  const obs = (system: string, marker: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    identifier: [{ system, value: marker }],
    code: { coding: [{ system: 'urn:bench', code: 'bench' }] },
    valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  });

  // Warm-up (worker threads compile the bot, caches fill).
  for (let i = 0; i < 100; i++) await post('Observation', obs('urn:bench:lat', `warm-${i}`));
  await sleep(1000);
  await waitForQuiet(server.pid, 5);

  // 1. Latency at a steady rate.
  log(`latency phase: ${RATE} writes/s for ${DURATION} s`);
  const sent = new Map<string, { committedAt?: number; okAt?: number }>();
  const total = RATE * DURATION;
  const cpu0 = cpuSnapshot(server.pid);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const marker = `lat-${i}`;
    const entry: { committedAt?: number; okAt?: number } = {};
    sent.set(marker, entry);
    inflight.push(
      post<Observation>('Observation', obs('urn:bench:lat', marker)).then((created) => {
        entry.okAt = Date.now();
        entry.committedAt = Date.parse(created.meta?.lastUpdated ?? '');
      }),
    );
  }
  await Promise.all(inflight);
  const end = performance.now() + 10_000;
  while (performance.now() < end && [...sent.keys()].some((m) => !starts.has(m))) await sleep(20);
  const latCpu = cpuBetween(cpu0, cpuSnapshot(server.pid));
  const latSeconds = (performance.now() - t0) / 1000;
  const fromCommit: number[] = [];
  const fromOk: number[] = [];
  let lost = 0;
  for (const [marker, s] of sent) {
    const at = starts.get(marker);
    if (at === undefined || s.committedAt === undefined || s.okAt === undefined) {
      lost++;
      continue;
    }
    fromCommit.push(at - s.committedAt);
    fromOk.push(at - s.okAt);
  }
  fromCommit.sort((a, b) => a - b);
  fromOk.sort((a, b) => a - b);
  const latCpuPerWrite = (((latCpu.server + latCpu.postgres) / 100) * latSeconds * 1000) / Math.max(1, total);
  await server.stop();

  // 2. Throughput: a backlog written with no delivery workers, drained by one instance.
  log(`throughput phase: ${BACKLOG} Observations written with delivery workers off`);
  // Same port: tokens name the server's base URL as their issuer.
  server = await startServerProcess({ databaseUrl: dbUrl, port: server.port, env: { ...baseEnv, SUBSCRIPTION_WORKERS: 'false' } });
  const batch = 100;
  const writers: Promise<unknown>[] = [];
  for (let b = 0; b < BACKLOG / batch; b++) {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: Array.from({ length: batch }, (_, i) => ({
        request: { method: 'POST', url: 'Observation' },
        resource: obs('urn:bench:tp', `tp-${b}-${i}`),
      })),
    };
    writers.push(post('', bundle));
    if (writers.length >= 4) await writers.shift();
  }
  await Promise.all(writers);
  await server.stop();
  const counts = () =>
    withClient(dbUrl, async (c) => {
      const { rows } = await c.query<{ outbox: number; delivered: number; pending: number; dead: number; span_ms: number | null }>(
        `SELECT (SELECT count(*)::int FROM subscription_outbox) AS outbox,
           count(*) FILTER (WHERE status = 'delivered')::int AS delivered,
           count(*) FILTER (WHERE status = 'pending')::int AS pending,
           count(*) FILTER (WHERE status = 'dead')::int AS dead,
           (extract(epoch FROM max(delivered_at) - min(delivered_at)) * 1000)::float8 AS span_ms
         FROM subscription_delivery WHERE seq > $1`,
        [backlogAfter],
      );
      return rows[0];
    });
  // Only the backlog's deliveries count (the latency phase's rows are older).
  const backlogAfter = await withClient(dbUrl, async (c) => {
    const { rows } = await c.query<{ seq: string }>('SELECT coalesce(max(seq), 0)::text AS seq FROM subscription_delivery');
    return rows[0].seq;
  });
  const queued = (await counts()).outbox;
  log(`outbox holds ${queued} events; starting an instance with delivery workers`);
  await waitForQuiet(undefined, 5);
  server = await startServerProcess({
    databaseUrl: dbUrl,
    port: server.port,
    env: baseEnv,
    // BENCH_PROF=dir: a V8 CPU profile of the draining instance.
    nodeArgs: process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [],
  });
  const tpCpu0 = cpuSnapshot(server.pid);
  const tpT0 = performance.now();
  let c = await counts();
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline && (c.outbox > 0 || c.pending > 0 || c.delivered + c.dead < BACKLOG)) {
    await sleep(100);
    c = await counts();
  }
  const tpCpu = cpuBetween(tpCpu0, cpuSnapshot(server.pid));
  const tpSeconds = (performance.now() - tpT0) / 1000;
  const throughput = c.span_ms ? (c.delivered / c.span_ms) * 1000 : 0;
  const cpuMs = (pct: number) => ((pct / 100) * tpSeconds * 1000) / Math.max(1, c.delivered);
  const serverCpuPerDelivery = cpuMs(tpCpu.server);
  const pgCpuPerDelivery = cpuMs(tpCpu.postgres);

  printTable(
    `Committed write → bot handler start (trivial bot via Subscription, ${RATE} writes/s for ${DURATION} s)`,
    ['Measure', 'Writes', 'p50', 'p90', 'p99', 'max'],
    [
      [
        'commit (meta.lastUpdated) → handler start',
        fromCommit.length,
        fmtMs(percentile(fromCommit, 50)),
        fmtMs(percentile(fromCommit, 90)),
        fmtMs(percentile(fromCommit, 99)),
        fmtMs(fromCommit.at(-1)),
      ],
      [
        '2xx reply read → handler start',
        fromOk.length,
        fmtMs(percentile(fromOk, 50)),
        fmtMs(percentile(fromOk, 90)),
        fmtMs(percentile(fromOk, 99)),
        fmtMs(fromOk.at(-1)),
      ],
    ],
  );
  printTable(
    'Backlog drain to a trivial bot (one instance, delivery workers started on a full outbox)',
    ['Events', 'Delivered', 'Dead', 'First → last delivery', 'Rate', 'CPU/delivery server', 'CPU/delivery PostgreSQL', 'Other load'],
    [
      [
        BACKLOG,
        c.delivered,
        c.dead,
        fmtMs(c.span_ms ?? undefined),
        fmtRate(throughput),
        `${serverCpuPerDelivery.toFixed(2)} ms`,
        `${pgCpuPerDelivery.toFixed(2)} ms`,
        `${tpCpu.other.toFixed(0)}% of a core`,
      ],
    ],
  );
  const checks: Check[] = [
    {
      metric: `committed write → handler start p50 @ ${RATE}/s`,
      target: `≤ ${TARGETS.p50Ms} ms`,
      measured: fmtMs(percentile(fromCommit, 50)),
      pass: percentile(fromCommit, 50) <= TARGETS.p50Ms && lost === 0,
      note: `server+PostgreSQL CPU ${latCpuPerWrite.toFixed(2)} ms per write+delivery; other load ${latCpu.other.toFixed(0)}% of a core${lost ? `; ${lost} never started` : ''}`,
    },
    {
      metric: `committed write → handler start p99 @ ${RATE}/s`,
      target: `≤ ${TARGETS.p99Ms} ms`,
      measured: fmtMs(percentile(fromCommit, 99)),
      pass: percentile(fromCommit, 99) <= TARGETS.p99Ms && lost === 0,
    },
    {
      metric: 'sustained deliveries to a trivial bot',
      target: `≥ ${TARGETS.throughput}/s`,
      measured: fmtRate(throughput),
      pass: throughput >= TARGETS.throughput && c.delivered >= BACKLOG,
      note: `${c.delivered}/${BACKLOG} delivered; ${(serverCpuPerDelivery + pgCpuPerDelivery).toFixed(2)} ms CPU per delivery`,
    },
  ];
  printChecks('Subscriptions → bots benchmark', checks);
  if (lost > 0 || c.delivered < BACKLOG) log(`server output:\n${server.output().split('\n').slice(-30).join('\n')}`);
  await server.stop();
}

runMain(main);
