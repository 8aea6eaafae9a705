// FHIR server throughput/latency benchmark.
//
//   node scripts/bench/fhir.ts            (npm run bench:fhir)
//
// Starts `node server/index.ts` as a child process on a fresh scratch database (created on the
// local PostgreSQL and dropped at the end), loads it from this process with autocannon at
// concurrency 8, and prints per-phase results and a PASS/FAIL table against the targets.
//
// Environment:
//   BENCH_DURATION=10          seconds per measured phase (after warmup)
//   BENCH_WARMUP=3             seconds of warmup before each phase
//   BENCH_CONNECTIONS=8        concurrent connections for create/read/search
//   BENCH_TX_CONNECTIONS=4     concurrent transaction bundles
//   BENCH_ADMIN_URL            admin URL of the local PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres)
//   BENCH_DATABASE_URL         use this (existing) database instead of a scratch one; it is not dropped
//   BENCH_PHASES               comma list to run a subset: raw,create,read,search,transaction,rss,restart
//   BENCH_SERVER_NODE_ARGS     extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
//   BENCH_QUIET_WAIT=60        before each phase, wait up to this many seconds for the server to finish the
//                              previous phases' background work (audit indexing) and for other processes to go idle
//   BENCH_ROLE                 load as a client bound to this shipped role's AccessPolicy (e.g. ed-physician)
//                              instead of the admin client, so every request is checked against a policy
//   BENCH_BASELINE=1           run scripts/bench/lib/baseline-server.ts instead: no token check after the
//                              first, no AccessPolicy, no audit (the auth-cost benchmark's baseline)
//   BENCH_CLIENT_ID/_SECRET    admin client of a BENCH_DATABASE_URL bootstrapped earlier (otherwise the run
//                              bootstraps its own client via ADMIN_CLIENT_ID/SECRET and keeps it in bench_credentials)
// The server child gets RATE_LIMIT_PER_IP/RATE_LIMIT_PER_CLIENT raised (defaults cap one client at 1,000 req/s).
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { AutocannonRequest } from 'autocannon';
import pg from 'pg';
import pino from 'pino';
import { migrate } from '../../server/db/migrate.ts';
import { loadProfiles } from '../../server/fhir/definitions.ts';
import { buildIndexRows } from '../../server/fhir/indexer.ts';
import { PostgresRepository, type RepositoryContext } from '../../server/fhir/repo.ts';
import { idleGcFromEnv, quietPeriodMs } from '../../server/ops/idle-gc.ts';
import { accessToken, authHeaders, type BenchCredentials, credentialsFor, roleToken, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { type CpuUse, cpuBetween, cpuSnapshot, fmtCpu, setBenchDatabase, waitForQuiet, waitServerSettled } from './lib/cpu.ts';
import { LOINC, MRN_SYSTEM, makeObservation, makePatient, makeTransactionBundle, rng } from './lib/data.ts';
import { type LoadResult, runAutocannon } from './lib/load.ts';
import { ADMIN_URL, assertLocal, createDatabase, databaseName, dropDatabase, scratchName, withClient } from './lib/pg.ts';
import { concurrentLoop, openClients, RAW_DROP_SQL, RAW_INSERT_SQL, RAW_INSERT_WITH_HISTORY_SQL, RAW_TABLES_SQL } from './lib/raw-pg.ts';
import { sampleObservations, samplePatients } from './lib/samples.ts';
import { REPO_ROOT, readMemoryKb, readMetrics, type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { type Check, fmtMb, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const DURATION = num(process.env.BENCH_DURATION, 10);
const WARMUP = num(process.env.BENCH_WARMUP, 3);
const CONNECTIONS = num(process.env.BENCH_CONNECTIONS, 8);
const TX_CONNECTIONS = num(process.env.BENCH_TX_CONNECTIONS, 4);
const BUNDLE_PATIENTS = 20;
const BUNDLE_OBS_PER_PATIENT = 4;
const BUNDLE_ENTRIES = BUNDLE_PATIENTS * (1 + BUNDLE_OBS_PER_PATIENT);
// Idle RSS is read 5 s after the server's idle collection is due (server/ops/idle-gc.ts): the
// server child inherits this process's environment, so the same IDLE_GC settings apply to it.
const IDLE_GC = idleGcFromEnv(process.env);
const IDLE_SECONDS = (IDLE_GC ? quietPeriodMs(IDLE_GC) / 1000 : 0) + 5;
const RESTARTS = 3;
const PHASES = new Set((process.env.BENCH_PHASES || 'raw,create,read,search,transaction,rss,restart').split(',').map((s) => s.trim()));
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const RAW_ID_PREFIX = 'rawbench-';
const QUIET_WAIT = num(process.env.BENCH_QUIET_WAIT, 60);
const ROLE = process.env.BENCH_ROLE || undefined;
const BASELINE = process.env.BENCH_BASELINE === '1';
const ENTRY = BASELINE ? 'scripts/bench/lib/baseline-server.ts' : undefined;

const TARGETS = {
  createRps: 600,
  readRps: 2000,
  searchRps: 900,
  p99Ms: 50,
  txResourcesPerSec: 1000,
  idleRssMb: 200,
  restartMs: 3000,
};

const FHIR_JSON = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
/** Authorization header for every FHIR request (set once the server is up). */
let AUTH: Record<string, string> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phase {
  result: LoadResult;
  cpu: CpuUse;
  /** Multiplier from requests to resources (transaction bundles). */
  perRequest?: number;
}

/** Runs a warmup and then a measured autocannon phase against the server. */
async function loadPhase(
  server: ServerProcess,
  name: string,
  request: AutocannonRequest,
  connections = CONNECTIONS,
  seconds = DURATION,
): Promise<Phase> {
  const url = server.url.replace(/\/$/, '');
  // Work the previous phase deferred runs first, or this phase pays for it: after a busy phase the
  // server indexes the audit events it recorded (~8,700 after create Patient, 0.25 ms CPU each),
  // which fell into the create Observation window. Its CPU is logged, not hidden.
  // Four idle seconds: the audit indexer decides once a second, from the second before.
  const settle = await waitServerSettled(server.pid, QUIET_WAIT);
  if (settle.busySeconds >= 0.1) {
    log(
      `${name}: the server finished earlier phases' background work first (${settle.busySeconds.toFixed(1)} CPU-s, ${settle.seconds.toFixed(0)} s)`,
    );
  }
  await waitForQuiet(server.pid, QUIET_WAIT);
  log(`${name}: warmup ${WARMUP}s`);
  await runAutocannon({ name: `${name} (warmup)`, url, connections, seconds: WARMUP, requests: [request] });
  log(`${name}: measuring ${seconds}s at ${connections} connections`);
  const before = cpuSnapshot(server.pid);
  const result = await runAutocannon({ name, url, connections, seconds, requests: [request] });
  const cpu = cpuBetween(before, cpuSnapshot(server.pid));
  if (result.failed > 0) {
    log(`${name}: ${result.failed} failed requests, status codes ${JSON.stringify(result.statusCodes)}`);
    log(`server output (tail):\n${server.output().split('\n').slice(-10).join('\n')}`);
  }
  log(`${name}: ${fmtRate(result.rps)} p50 ${result.p50} ms p99 ${result.p99} ms (cpu % srv/pg/gen/other ${fmtCpu(cpu)})`);
  return { result, cpu };
}

/** Makes sure there is something to read and search when the create phases were skipped. */
async function ensureData(server: ServerProcess, databaseUrl: string): Promise<void> {
  if ((await samplePatients(databaseUrl, 100, RAW_ID_PREFIX)).length >= 100) return;
  log('seeding 10 transaction bundles (read/search phases need data)');
  for (let i = 0; i < 10; i++) {
    const res = await fetch(server.fhirUrl, {
      method: 'POST',
      headers: { ...FHIR_JSON, ...AUTH },
      body: JSON.stringify(makeTransactionBundle(900_000 + i, BUNDLE_PATIENTS, BUNDLE_OBS_PER_PATIENT)),
    });
    if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`);
  }
}

interface RawResults {
  jsonBytes: number;
  rows: { variant: string; result: LoadResult; cpu: CpuUse }[];
}

/**
 * The write ceiling of the local PostgreSQL for the same JSON text the server stores, with the
 * server not running: (a) one row in a plain table, (b) plus a history row, (c) the server's own
 * INSERT statement (resource + history + search-index rows, captured from the repository) with
 * precomputed parameters, (d) PostgresRepository.createResource in-process (validation, indexer,
 * same SQL; no HTTP).
 */
async function rawPostgres(databaseUrl: string): Promise<RawResults> {
  loadProfiles(`${REPO_ROOT}fhir-profiles`);
  const patient = { ...makePatient(0), id: `${RAW_ID_PREFIX}capture` } as Patient;
  const logger = pino({ level: 'silent' });
  const ctx = (pool: pg.Pool): RepositoryContext => ({
    pool,
    fhirBaseUrl: 'http://127.0.0.1/fhir/R4/',
    defaultSearchCount: 20,
    maxSearchCount: 1000,
    profiles: new Map(),
    logger,
    // As in the server, whose writes wake the subscription workers after commit (OutboxWakeup).
    outboxWakeup: { written: () => undefined },
  });
  // Capture the exact statement and parameters the repository sends for one create.
  const captured: { sql: string; params: unknown[] }[] = [];
  const recorder = {
    // The repository sends writes as named prepared statements ({ name, text, values }).
    query: async (q: string | { text: string; values: unknown[] }, values?: unknown[]) => {
      const sql = typeof q === 'string' ? q : q.text;
      const params = typeof q === 'string' ? (values ?? []) : q.values;
      captured.push({ sql, params });
      const insert = /INSERT INTO resource\b/.test(sql);
      return { rows: insert ? [{ n: 1 }] : [], rowCount: insert ? 1 : 0 };
    },
  } as unknown as pg.Pool;
  await new PostgresRepository(ctx(recorder)).createResource(patient, { assignedId: true });
  const insert = captured.find((c) => /INSERT INTO resource\b/.test(c.sql));
  if (!insert || insert.params[1] !== patient.id || typeof insert.params[4] !== 'string') {
    throw new Error('could not capture the repository INSERT statement (parameter layout changed?)');
  }
  const text = insert.params[4];
  const jsonBytes = Buffer.byteLength(text);
  const rows: RawResults['rows'] = [];
  const common = { concurrency: CONNECTIONS, seconds: DURATION, warmupSeconds: Math.min(WARMUP, 2), maxPerWorker: 2_000_000 };
  const measure = async (variant: string, name: string, op: (w: number, n: number) => Promise<unknown>) => {
    await waitForQuiet(undefined, QUIET_WAIT);
    log(`raw PostgreSQL ${variant}`);
    const before = cpuSnapshot(undefined);
    const result = await concurrentLoop({ ...common, name, op });
    rows.push({ variant, result, cpu: cpuBetween(before, cpuSnapshot(undefined)) });
  };

  await withClient(databaseUrl, (c) => c.query(RAW_TABLES_SQL));
  onCleanup('drop raw tables', () => withClient(databaseUrl, (c) => c.query(RAW_DROP_SQL)).then(() => undefined));
  const clients = await openClients(databaseUrl, CONNECTIONS);
  try {
    await measure('(a) INSERT 1 row (uuid PK, text) per statement', 'raw insert', (w) =>
      clients[w].query(RAW_INSERT_SQL, [randomUUID(), text]),
    );
    await measure('(b) (a) + history row (one statement, 2 tables)', 'raw insert + history', (w) =>
      clients[w].query(RAW_INSERT_WITH_HISTORY_SQL, [randomUUID(), randomUUID(), text]),
    );
    await measure(`(c) server INSERT stmt: resource+history+${countIndexRows(patient)} index rows`, 'server statement', (w, n) => {
      const params = [...insert.params];
      params[1] = `${RAW_ID_PREFIX}c-${n}`;
      params[2] = randomUUID();
      return clients[w].query(insert.sql, params);
    });
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONNECTIONS });
  try {
    const repo = new PostgresRepository(ctx(pool));
    await measure('(d) repo.createResource in-process (no HTTP)', 'repository create', (_w, n) =>
      repo.createResource({ ...patient, id: `${RAW_ID_PREFIX}d-${n}` }, { assignedId: true }),
    );
  } finally {
    await pool.end();
  }
  // Leave the database as the server would have it: no benchmark leftovers.
  await withClient(databaseUrl, async (c) => {
    await c.query(RAW_DROP_SQL);
    for (const t of [
      'resource',
      'resource_history',
      'sp_token',
      'sp_string',
      'sp_date',
      'sp_number',
      'sp_quantity',
      'sp_reference',
      'sp_uri',
    ]) {
      await c.query(`DELETE FROM ${t} WHERE id LIKE '${RAW_ID_PREFIX}%'`);
    }
    await c.query('VACUUM ANALYZE');
  });
  return { jsonBytes, rows };
}

/** Number of search-index rows the server writes for a resource. */
function countIndexRows(resource: Resource): number {
  return Object.values(buildIndexRows(resource)).reduce((n, rows) => n + rows.length, 0);
}

async function main(): Promise<void> {
  const started = Date.now();
  const pgVersion = await withClient(
    ADMIN_URL,
    async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version,
  );
  let databaseUrl = process.env.BENCH_DATABASE_URL;
  if (databaseUrl) {
    assertLocal(databaseUrl);
    log(`using BENCH_DATABASE_URL database ${databaseName(databaseUrl)} (not dropped)`);
  } else {
    const name = scratchName('es_bench');
    databaseUrl = await createDatabase(ADMIN_URL, name);
    onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));
    log(`created scratch database ${name}`);
  }
  await migrate(databaseUrl);
  const creds = await credentialsFor(databaseUrl);
  setBenchDatabase(databaseName(databaseUrl));

  const checks: Check[] = [];
  const phases: Phase[] = [];
  let raw: RawResults | undefined;
  if (PHASES.has('raw')) {
    raw = await rawPostgres(databaseUrl);
  }

  log('starting server');
  let server = await startServerProcess({ databaseUrl, nodeArgs: SERVER_NODE_ARGS, env: serverEnv(creds), entry: ENTRY });
  log(`server pid ${server.pid} healthy after ${server.startToHealthyMs.toFixed(0)} ms at ${server.url}`);
  const adminToken = await signIn(server, creds);
  AUTH = authHeaders(ROLE ? await roleToken(server.url, adminToken, ROLE) : adminToken);
  if (ROLE) log(`signed in as a client with the ${ROLE} AccessPolicy`);
  // Start-up work may continue after /healthcheck answers (e.g. GraphQL schema warm-up); let it finish.
  const settle = await waitServerSettled(server.pid, 60);
  log(`server settled ${settle.seconds.toFixed(0)} s after healthy (${settle.busySeconds.toFixed(1)} CPU-s of background work)`);
  await sleep(IDLE_SECONDS * 1000);
  const rssAfterStart = readMemoryKb(server.pid);

  const r = rng(42);
  const pickOf = <T>(list: T[]): T => list[Math.floor(r() * list.length)];
  let patientCounter = 0;
  let observationCounter = 0;

  if (PHASES.has('create')) {
    const createPatient = await loadPhase(server, 'create Patient (POST)', {
      method: 'POST',
      path: '/fhir/R4/Patient',
      headers: { ...FHIR_JSON, ...AUTH },
      setupRequest: (req) => ({ ...req, body: JSON.stringify(makePatient(patientCounter++)) }),
    });
    phases.push(createPatient);
    const pool = await samplePatients(databaseUrl, 5000, RAW_ID_PREFIX);
    const createObservation = await loadPhase(server, 'create Observation (POST)', {
      method: 'POST',
      path: '/fhir/R4/Observation',
      headers: { ...FHIR_JSON, ...AUTH },
      setupRequest: (req) => ({ ...req, body: JSON.stringify(makeObservation(observationCounter++, pickOf(pool).id)) }),
    });
    phases.push(createObservation);
    for (const [label, p] of [
      ['Patient', createPatient],
      ['Observation', createObservation],
    ] as const) {
      checks.push(rateCheck(`create ${label}: throughput`, TARGETS.createRps, p.result.rps, p));
      checks.push(p99Check(`create ${label}: p99 latency`, p.result));
    }
  }

  if (PHASES.has('read') || PHASES.has('search')) {
    await ensureData(server, databaseUrl);
  }
  const patients = await samplePatients(databaseUrl, 5000, RAW_ID_PREFIX);
  const observations = await sampleObservations(databaseUrl, 5000);
  log(`pools: ${patients.length} patients, ${observations.length} observations`);

  if (PHASES.has('read')) {
    const ids = [...patients.map((p) => `Patient/${p.id}`), ...observations.map((o) => `Observation/${o.id}`)];
    const read = await loadPhase(server, 'read by id (GET Patient|Observation/<id>)', {
      method: 'GET',
      headers: { accept: 'application/fhir+json', ...AUTH },
      setupRequest: (req) => ({ ...req, path: `/fhir/R4/${pickOf(ids)}` }),
    });
    phases.push(read);
    checks.push(rateCheck('read by id: throughput', TARGETS.readRps, read.result.rps, read));
    checks.push(p99Check('read by id: p99 latency', read.result));
  }

  if (PHASES.has('search')) {
    const searches: [string, () => string][] = [
      [
        'search token: Patient?identifier=<sys>|<mrn>',
        () => `Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|${pickOf(patients).mrn}`)}`,
      ],
      [
        'search token+ref: Observation?code=<loinc>&subject=<Patient>',
        () => {
          const o = pickOf(observations);
          return `Observation?code=${encodeURIComponent(`${LOINC}|${o.code}`)}&subject=${encodeURIComponent(o.subject)}`;
        },
      ],
      ['search string: Patient?name=<family>', () => `Patient?name=${encodeURIComponent(pickOf(patients).family)}`],
    ];
    for (const [name, query] of searches) {
      const s = await loadPhase(server, name, {
        method: 'GET',
        headers: { accept: 'application/fhir+json', ...AUTH },
        setupRequest: (req) => ({ ...req, path: `/fhir/R4/${query()}` }),
      });
      phases.push(s);
      checks.push(rateCheck(`${name.split(':')[0]}: throughput`, TARGETS.searchRps, s.result.rps, s, name.split(': ')[1]));
      checks.push(p99Check(`${name.split(':')[0]}: p99 latency`, s.result));
    }
  }

  if (PHASES.has('transaction')) {
    // Distinct bundles, generated up front so the load generator only sends bytes.
    const bundles = Array.from({ length: 64 }, (_, i) => JSON.stringify(makeTransactionBundle(i, BUNDLE_PATIENTS, BUNDLE_OBS_PER_PATIENT)));
    let b = 0;
    const tx = await loadPhase(
      server,
      `transaction Bundle (${BUNDLE_ENTRIES} entries, urn:uuid refs)`,
      {
        method: 'POST',
        path: '/fhir/R4/',
        headers: { ...FHIR_JSON, ...AUTH },
        setupRequest: (req) => ({ ...req, body: bundles[b++ % bundles.length] }),
      },
      TX_CONNECTIONS,
    );
    tx.perRequest = BUNDLE_ENTRIES;
    phases.push(tx);
    checks.push(
      rateCheck(
        'transaction import: resources/s',
        TARGETS.txResourcesPerSec,
        tx.result.rps * BUNDLE_ENTRIES,
        tx,
        `${TX_CONNECTIONS} bundles in flight`,
      ),
    );
    checks.push({ metric: 'transaction import: p99 per bundle', target: '-', measured: fmtMs(tx.result.p99), pass: undefined });
  }

  let rssAfterLoad: { rss: number; hwm: number } | undefined;
  let heapAfterLoad: string | undefined;
  if (PHASES.has('rss')) {
    log(`idle ${IDLE_SECONDS}s, then reading RSS`);
    await sleep(IDLE_SECONDS * 1000);
    rssAfterLoad = readMemoryKb(server.pid);
    heapAfterLoad = await readProcessMemory(server);
  }
  checks.push({
    metric: 'background start-up work after /healthcheck 200',
    target: '-',
    measured: `${settle.busySeconds.toFixed(1)} CPU-s`,
    pass: undefined,
    note: settle.settled ? `settled ${settle.seconds.toFixed(0)} s after healthy` : 'still busy after 60 s',
  });
  checks.push({
    metric: `idle RSS after start (settled, +${IDLE_SECONDS}s idle)`,
    target: `≤ ${TARGETS.idleRssMb} MB`,
    measured: fmtMb(rssAfterStart.rss),
    pass: rssAfterStart.rss / 1024 <= TARGETS.idleRssMb,
  });
  if (rssAfterLoad) {
    checks.push({
      metric: `idle RSS after load phases (+${IDLE_SECONDS}s idle)`,
      target: `≤ ${TARGETS.idleRssMb} MB`,
      measured: fmtMb(rssAfterLoad.rss),
      pass: rssAfterLoad.rss / 1024 <= TARGETS.idleRssMb,
      note: `peak (VmHWM) ${fmtMb(rssAfterLoad.hwm)}${heapAfterLoad ? `; ${heapAfterLoad}` : ''}`,
    });
  }

  const restarts: { stopMs: number; startMs: number }[] = [];
  if (PHASES.has('restart')) {
    for (let i = 0; i < RESTARTS; i++) {
      await waitForQuiet(server.pid, QUIET_WAIT);
      const stopMs = await server.stop();
      server = await startServerProcess({
        databaseUrl,
        port: server.port,
        nodeArgs: SERVER_NODE_ARGS,
        env: serverEnv(creds),
        entry: ENTRY,
      });
      restarts.push({ stopMs, startMs: server.startToHealthyMs });
      log(`restart ${i + 1}: stop ${stopMs.toFixed(0)} ms, start→healthy ${server.startToHealthyMs.toFixed(0)} ms`);
    }
    const worst = Math.max(...restarts.map((x) => x.stopMs + x.startMs));
    const worstStart = Math.max(...restarts.map((x) => x.startMs));
    checks.push({
      metric: `restart: SIGTERM → /healthcheck 200 (worst of ${RESTARTS})`,
      target: `≤ ${TARGETS.restartMs / 1000} s`,
      measured: fmtMs(worst),
      pass: worst <= TARGETS.restartMs,
      note: `of which start→healthy ≤ ${fmtMs(worstStart)}`,
    });
  }
  await server.stop();

  // ---- report -------------------------------------------------------------------------------
  process.stdout.write(
    `\n## EmergiSphere FHIR benchmark\n\n` +
      `machine: ${availableParallelism()} cores (load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}), Node ${process.versions.node}, PostgreSQL ${pgVersion} (local, synchronous_commit as configured); ` +
      `load generator: autocannon in a separate process; phases ${DURATION}s after ${WARMUP}s warmup; ` +
      `${CONNECTIONS} connections (transactions: ${TX_CONNECTIONS}); ` +
      `requests carry a client_credentials bearer token${AUTH.authorization ? '' : ' (server had no auth)'}` +
      `${ROLE ? ` of a client with the ${ROLE} AccessPolicy` : ' of the admin client'}` +
      `${BASELINE ? '; BASELINE server: no token check after the first, no AccessPolicy, no audit' : ''}; server rate limits raised for the run\n`,
  );
  if (raw) {
    printTable(
      `Raw PostgreSQL write ceiling (server not running; same ${raw.jsonBytes}-byte Patient JSON; ${CONNECTIONS} connections, autocommit)`,
      ['Variant', 'Rows/s', 'p50', 'p99', 'Max', 'CPU srv / pg / gen / other'],
      raw.rows.map(({ variant, result, cpu }) => [
        variant,
        fmtRate(result.rps),
        fmtMs(result.p50),
        fmtMs(result.p99),
        fmtMs(result.max),
        fmtCpu(cpu),
      ]),
    );
  }
  if (phases.length > 0) {
    printTable(
      'HTTP load phases (latency resolution 1 ms; CPU in % of one core: server / PostgreSQL / load generator / other processes)',
      [
        'Phase',
        'Conns',
        'OK',
        'Failed',
        'Req/s',
        'Resources/s',
        'p50',
        'p90',
        'p99',
        'Max',
        'CPU srv / pg / gen / other',
        'CPU ms/req srv+pg',
      ],
      phases.map(({ result: x, cpu, perRequest }) => [
        x.name,
        x.connections,
        x.ok,
        x.failed,
        fmtRate(x.rps),
        fmtRate(x.rps * (perRequest ?? 1)),
        fmtMs(x.p50),
        fmtMs(x.p90),
        fmtMs(x.p99),
        fmtMs(x.max),
        fmtCpu(cpu),
        // Other processes' load moves wall-clock rates more than this: compare runs by it.
        x.rps > 0 ? (((cpu.server + cpu.postgres) / 100 / x.rps) * 1000).toFixed(2) : '-',
      ]),
    );
  }
  if (raw && phases.length > 0) {
    const create = phases.find((p) => p.result.name.startsWith('create Patient'));
    if (create) {
      printTable(
        'Server create Patient rate as a fraction of the PostgreSQL ceiling',
        ['Compared with', 'Ceiling', 'Server create Patient', 'Fraction'],
        raw.rows.map(({ variant, result }) => [
          variant,
          fmtRate(result.rps),
          fmtRate(create.result.rps),
          `${((create.result.rps / result.rps) * 100).toFixed(0)}%`,
        ]),
      );
    }
  }
  if (restarts.length > 0) {
    printTable(
      'Restarts (same database)',
      ['#', 'SIGTERM → exit', 'spawn → healthy', 'total'],
      restarts.map((x, i) => [i + 1, fmtMs(x.stopMs), fmtMs(x.startMs), fmtMs(x.stopMs + x.startMs)]),
    );
  }
  printChecks('Targets', checks);
  const failed = checks.filter((c) => c.pass === false).length;
  process.stdout.write(
    `\n${failed === 0 ? 'All targets met' : `${failed} target(s) missed`} (total ${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
  );
}

/**
 * Where the idle server's memory is, from its /metrics (emergisphere_process_memory_bytes): V8 heap
 * committed and in use, and Buffers outside it. Undefined for a server without that gauge.
 */
async function readProcessMemory(server: ServerProcess): Promise<string | undefined> {
  const text = await readMetrics(server);
  if (text === undefined) return undefined;
  const mb = (kind: string) => {
    const v = new RegExp(`^emergisphere_process_memory_bytes\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(text)?.[1];
    return v === undefined ? undefined : `${(Number(v) / 1048576).toFixed(0)} MB`;
  };
  const heap = mb('heap_total');
  return heap && `V8 heap ${heap} (${mb('heap_used')} used), external ${mb('external')}`;
}

async function signIn(server: ServerProcess, creds: BenchCredentials): Promise<string | undefined> {
  const token = await accessToken(server.url, creds);
  log(token ? `signed in as client ${creds.clientId}` : 'server has no token endpoint; sending requests without a token');
  return token;
}

function rateCheck(metric: string, target: number, measured: number, phase: Phase, note?: string): Check {
  const failures = phase.result.failed > 0 ? `${phase.result.failed} failed requests` : '';
  return {
    metric,
    target: `≥ ${fmtRate(target)}`,
    measured: fmtRate(measured),
    pass: measured >= target && phase.result.failed === 0,
    note: [note, failures].filter(Boolean).join('; '),
  };
}

function p99Check(metric: string, result: LoadResult): Check {
  return {
    metric,
    target: `≤ ${TARGETS.p99Ms} ms`,
    measured: fmtMs(result.p99),
    pass: result.p99 <= TARGETS.p99Ms,
    note: `p50 ${fmtMs(result.p50)}`,
  };
}

runMain(main);
