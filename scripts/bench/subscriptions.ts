// Subscription delivery benchmark.
//
//   node scripts/bench/subscriptions.ts            (npm run bench:subscriptions)
//
// Starts `node server/index.ts` as a child process on a fresh scratch database and a trivial
// rest-hook receiver in this process, then measures:
//   1. latency: writes at BENCH_RATE/s (default 100) for BENCH_DURATION s; for each write, the time
//      from sending the write until the receiver has the notification (an upper bound of "committed
//      write → delivery": the commit happens somewhere inside the request), and from the 2xx reply;
//   2. throughput: BENCH_BACKLOG (default 6000) Observations written in batch Bundles, then the
//      rate at which the receiver is sent them (a sustained backlog).
// The bot runtime is measured elsewhere; this is the rest-hook path.
//
// Environment: BENCH_RATE, BENCH_DURATION, BENCH_BACKLOG, BENCH_ADMIN_URL (see lib/pg.ts).
import { createServer } from 'node:http';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { accessToken, authHeaders, credentialsFor, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName, withClient } from './lib/pg.ts';
import { startServerProcess } from './lib/server-process.ts';
import { type Check, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const RATE = num(process.env.BENCH_RATE, 100);
const DURATION = num(process.env.BENCH_DURATION, 10);
const BACKLOG = num(process.env.BENCH_BACKLOG, 6000);
const TARGETS = { p50Ms: 10, p99Ms: 50, throughput: 500 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function main(): Promise<void> {
  const name = scratchName('es_bench_subs');
  const dbUrl = await createDatabase(ADMIN_URL, name);
  onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));

  // The receiver: records arrival time per marker (Observation.identifier value).
  const arrivals = new Map<string, number>();
  let received = 0;
  let firstAt = 0;
  let lastAt = 0;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const now = performance.now();
      received++;
      if (!firstAt) firstAt = now;
      lastAt = now;
      const obs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Observation;
      const marker = obs.identifier?.[0]?.value;
      if (marker && !arrivals.has(marker)) arrivals.set(marker, now);
      res.statusCode = 200;
      res.end();
    });
  });
  receiver.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  onCleanup('close receiver', () => new Promise<void>((r) => receiver.close(() => r())));
  const addr = receiver.address();
  const hookUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;

  const creds = await credentialsFor(dbUrl);
  const server = await startServerProcess({ databaseUrl: dbUrl, env: { ...serverEnv(creds), GRAPHQL_WARMUP: 'false' } });
  log(`server healthy in ${server.startToHealthyMs.toFixed(0)} ms`);
  const token = await accessToken(server.url, creds);
  const headers = { ...authHeaders(token), 'content-type': 'application/fhir+json' };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${server.fhirUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  await post('Subscription', {
    resourceType: 'Subscription',
    status: 'active',
    reason: 'bench',
    criteria: 'Observation?code=bench',
    channel: { type: 'rest-hook', endpoint: hookUrl },
  });
  const obs = (marker: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    identifier: [{ system: 'urn:bench', value: marker }],
    code: { coding: [{ system: 'urn:bench', code: 'bench' }] },
    valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  });

  // Warm-up.
  for (let i = 0; i < 50; i++) await post('Observation', obs(`warm-${i}`));
  await sleep(500);

  // 1. Latency at a steady rate.
  log(`latency phase: ${RATE} writes/s for ${DURATION} s`);
  const sent = new Map<string, { sentAt: number; okAt?: number }>();
  const total = RATE * DURATION;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const marker = `lat-${i}`;
    const entry: { sentAt: number; okAt?: number } = { sentAt: performance.now() };
    sent.set(marker, entry);
    inflight.push(
      post('Observation', obs(marker)).then(() => {
        entry.okAt = performance.now();
      }),
    );
  }
  await Promise.all(inflight);
  const end = performance.now() + 10_000;
  while (performance.now() < end && [...sent.keys()].some((m) => !arrivals.has(m))) await sleep(20);
  const fromSend: number[] = [];
  const fromOk: number[] = [];
  let lost = 0;
  for (const [marker, s] of sent) {
    const at = arrivals.get(marker);
    if (at === undefined) {
      lost++;
      continue;
    }
    fromSend.push(at - s.sentAt);
    if (s.okAt !== undefined) fromOk.push(Math.max(0, at - s.okAt));
  }
  fromSend.sort((a, b) => a - b);
  fromOk.sort((a, b) => a - b);
  const writeLatency = [...sent.values()]
    .filter((s) => s.okAt)
    .map((s) => (s.okAt as number) - s.sentAt)
    .sort((a, b) => a - b);

  // 2. Throughput with a backlog.
  log(`throughput phase: ${BACKLOG} Observations in batch Bundles`);
  received = 0;
  firstAt = 0;
  const batch = 100;
  const writeStart = performance.now();
  const writers: Promise<unknown>[] = [];
  for (let b = 0; b < BACKLOG / batch; b++) {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: Array.from({ length: batch }, (_, i) => ({ request: { method: 'POST', url: 'Observation' }, resource: obs(`tp-${b}-${i}`) })),
    };
    writers.push(post('', bundle));
    if (writers.length >= 4) await writers.shift();
  }
  await Promise.all(writers);
  const writeEnd = performance.now();
  const writeMs = writeEnd - writeStart;
  const receivedAtWriteEnd = received;
  const tpEnd = performance.now() + 60_000;
  while (performance.now() < tpEnd && received < BACKLOG) await sleep(20);
  const deliveredMs = lastAt - firstAt;
  const overall = (received / deliveredMs) * 1000;
  // The backlog left when the writes stopped, drained without writes competing for the CPU.
  const drained = received - receivedAtWriteEnd;
  const drainMs = lastAt - writeEnd;
  const throughput = drained >= 500 ? (drained / drainMs) * 1000 : overall;

  printTable(
    'Subscription delivery latency (rest-hook, Observation create)',
    ['Measure', 'Writes', 'p50', 'p90', 'p99', 'max'],
    [
      [
        'write sent → hook received',
        fromSend.length,
        fmtMs(percentile(fromSend, 50)),
        fmtMs(percentile(fromSend, 90)),
        fmtMs(percentile(fromSend, 99)),
        fmtMs(fromSend.at(-1)),
      ],
      [
        '2xx reply → hook received',
        fromOk.length,
        fmtMs(percentile(fromOk, 50)),
        fmtMs(percentile(fromOk, 90)),
        fmtMs(percentile(fromOk, 99)),
        fmtMs(fromOk.at(-1)),
      ],
      [
        'write request itself',
        writeLatency.length,
        fmtMs(percentile(writeLatency, 50)),
        fmtMs(percentile(writeLatency, 90)),
        fmtMs(percentile(writeLatency, 99)),
        fmtMs(writeLatency.at(-1)),
      ],
    ],
  );
  printTable(
    'Sustained delivery throughput (backlog of batch-written Observations)',
    [
      'Events',
      'Delivered',
      'Write time',
      'Delivered during writes',
      'Delivery span',
      'Overall',
      'Backlog drained after writes',
      'Drain rate',
    ],
    [
      [
        BACKLOG,
        received,
        fmtMs(writeMs),
        receivedAtWriteEnd,
        fmtMs(deliveredMs),
        fmtRate(overall),
        drained,
        drained > 0 ? fmtRate((drained / drainMs) * 1000) : 'n/a',
      ],
    ],
  );
  const checks: Check[] = [
    {
      metric: `committed write → delivery p50 @ ${RATE}/s`,
      target: `≤ ${TARGETS.p50Ms} ms`,
      measured: fmtMs(percentile(fromSend, 50)),
      pass: percentile(fromSend, 50) <= TARGETS.p50Ms && lost === 0,
      note: `measured from sending the write (upper bound)${lost ? `; ${lost} never delivered` : ''}`,
    },
    {
      metric: `committed write → delivery p99 @ ${RATE}/s`,
      target: `≤ ${TARGETS.p99Ms} ms`,
      measured: fmtMs(percentile(fromSend, 99)),
      pass: percentile(fromSend, 99) <= TARGETS.p99Ms && lost === 0,
    },
    {
      metric: 'sustained delivery throughput',
      target: `≥ ${TARGETS.throughput}/s`,
      measured: fmtRate(throughput),
      pass: throughput >= TARGETS.throughput && received >= BACKLOG,
      note: `${received}/${BACKLOG} delivered; ${drained >= 500 ? 'drain rate of the backlog left after the writes' : 'overall rate (backlog too small to drain separately)'}`,
    },
  ];
  printChecks('Subscriptions benchmark', checks);
  const stats = await withClient(dbUrl, async (c) => {
    const outbox = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM subscription_outbox');
    const d = await c.query<{ status: string; n: number; attempts: number }>(
      'SELECT status, count(*)::int AS n, sum(attempts)::int AS attempts FROM subscription_delivery GROUP BY status',
    );
    return { outbox: outbox.rows[0].n, deliveries: d.rows };
  });
  log(`outbox backlog ${stats.outbox}; deliveries ${JSON.stringify(stats.deliveries)}`);
  if (lost > 0 || received < BACKLOG) log(`server output:\n${server.output().split('\n').slice(-30).join('\n')}`);
  await server.stop();
}

runMain(main);
