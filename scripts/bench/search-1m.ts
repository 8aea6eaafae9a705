// Search latency at scale: 1,000,000 resources (200k Patients, 800k Observations).
//
//   node scripts/bench/search-1m.ts          (npm run bench:search)
//
// Loads a deterministic dataset straight into PostgreSQL (no HTTP): worker threads run the
// server's real indexer (buildIndexRows) and bulk-insert resource, resource_history and sp_*
// rows with secondary indexes dropped, then rebuild the indexes and VACUUM ANALYZE. Then starts
// `node server/index.ts` on that database and measures token and string searches that return a
// page of 20: single-client and concurrency-8 latency (p50/p95/p99). Prints EXPLAIN (ANALYZE,
// BUFFERS) of a token and a string search to show the plans.
//
// Environment:
//   BENCH_RESOURCES=1000000   dataset size (e.g. 100000 for a quick run)
//   BENCH_KEEP_DB=1           keep the loaded database (named es_bench_search_<N>) and reuse it on the next run
//   BENCH_DATABASE_URL        load into / reuse this database instead (never dropped)
//   BENCH_DURATION=10         seconds per query at concurrency 8
//   BENCH_SINGLE_SECONDS=5    seconds per query single-client
//   BENCH_CONNECTIONS=8       concurrency of the loaded run
//   BENCH_LOAD_WORKERS=2      loader threads (default: number of cores)
//   BENCH_BATCH=2000          resources per insert batch
//   BENCH_ADMIN_URL           admin URL of the local PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres)
//   BENCH_QUIET_WAIT=60       before each measurement, wait up to this long for other processes to go idle
//   BENCH_CLIENT_ID/_SECRET   admin client of a database bootstrapped by someone else (see fhir.ts)
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parseSearchRequest } from '@medplum/core';
import type pg from 'pg';
import pino from 'pino';
import { migrate } from '../../server/db/migrate.ts';
import { loadProfiles } from '../../server/fhir/definitions.ts';
import { PostgresRepository } from '../../server/fhir/repo.ts';
import { buildSearchQuery } from '../../server/fhir/search/execute.ts';
import { accessToken, authHeaders, credentialsFor, serverEnv } from './lib/auth.ts';
import type { WorkerInput, WorkerMessage } from './lib/bulk-load-worker.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { type CpuUse, cpuBetween, cpuSnapshot, fmtCpu, setBenchDatabase, waitForQuiet, waitServerSettled } from './lib/cpu.ts';
import { FAMILY_NAMES, LOINC, MRN_SYSTEM, makePatient, mrnOf, OBSERVATION_KINDS, rng, seedOf } from './lib/data.ts';
import { httpLoad, type LoadResult } from './lib/load.ts';
import {
  ADMIN_URL,
  assertLocal,
  createDatabase,
  databaseExists,
  databaseName,
  databaseUrl,
  dropDatabase,
  scratchName,
  withClient,
} from './lib/pg.ts';
import { type DatasetShape, datasetShape, observationPatient, patientId } from './lib/search-dataset.ts';
import { REPO_ROOT, startServerProcess } from './lib/server-process.ts';
import { type Check, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const RESOURCES = Math.floor(num(process.env.BENCH_RESOURCES, 1_000_000));
const KEEP = process.env.BENCH_KEEP_DB === '1';
const DURATION = num(process.env.BENCH_DURATION, 10);
const SINGLE_SECONDS = num(process.env.BENCH_SINGLE_SECONDS, 5);
const CONNECTIONS = num(process.env.BENCH_CONNECTIONS, 8);
const LOAD_WORKERS = num(process.env.BENCH_LOAD_WORKERS, availableParallelism());
const BATCH = num(process.env.BENCH_BATCH, 2000);
const QUIET_WAIT = num(process.env.BENCH_QUIET_WAIT, 60);
const LOAD_TIMEOUT_S = 3 * 3600;
const P95_TARGET_MS = 50;
const PAGE = 20;

const DATA_TABLES = [
  'resource',
  'resource_history',
  'sp_token',
  'sp_string',
  'sp_date',
  'sp_number',
  'sp_quantity',
  'sp_reference',
  'sp_uri',
];

// ---- database preparation ---------------------------------------------------------------------

interface Meta {
  resources: number;
  load_seconds: number;
}

async function loadedMeta(url: string): Promise<Meta | undefined> {
  return withClient(url, async (c) => {
    const { rows } = await c
      .query<Meta>(`SELECT resources, load_seconds::float8 AS load_seconds FROM bench_search_meta WHERE complete LIMIT 1`)
      .catch(() => ({ rows: [] as Meta[] }));
    return rows[0];
  });
}

interface IndexDef {
  table: string;
  name: string;
  /** CREATE INDEX ... or ALTER TABLE ... ADD CONSTRAINT ... */
  create: string;
  drop: string;
}

/** The secondary indexes and primary keys of the data tables, to drop before and rebuild after the load. */
async function indexDefinitions(c: pg.Client): Promise<IndexDef[]> {
  const { rows } = await c.query<{ tbl: string; name: string; def: string; conname: string | null; condef: string | null }>(
    `SELECT t.relname AS tbl, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, con.conname, pg_get_constraintdef(con.oid) AS condef
     FROM pg_index i
     JOIN pg_class t ON t.oid = i.indrelid
     JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
     LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
     WHERE t.relname = ANY($1::text[])
     ORDER BY t.relname, ic.relname`,
    [DATA_TABLES],
  );
  return rows.map((r) =>
    r.conname
      ? {
          table: r.tbl,
          name: r.name,
          create: `ALTER TABLE ${r.tbl} ADD CONSTRAINT ${r.conname} ${r.condef}`,
          drop: `ALTER TABLE ${r.tbl} DROP CONSTRAINT ${r.conname}`,
        }
      : { table: r.tbl, name: r.name, create: r.def, drop: `DROP INDEX ${r.name}` },
  );
}

async function bulkLoad(
  url: string,
  shape: DatasetShape,
): Promise<{ seconds: number; loadSeconds: number; indexSeconds: number; vacuumSeconds: number; indexRows: number }> {
  const t0 = performance.now();
  const defs = await withClient(url, async (c) => {
    const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM resource');
    if (rows[0].n > 0) {
      throw new Error(
        `database ${databaseName(url)} already holds ${rows[0].n} resources but no complete benchmark load; use an empty one`,
      );
    }
    await c.query(`CREATE TABLE IF NOT EXISTS bench_search_meta (
      resources int NOT NULL, patients int NOT NULL, observations int NOT NULL, complete boolean NOT NULL DEFAULT false,
      load_seconds numeric, loaded_at timestamptz DEFAULT now(), index_definitions jsonb)`);
    const defs = await indexDefinitions(c);
    await c.query('DELETE FROM bench_search_meta');
    await c.query('INSERT INTO bench_search_meta (resources, patients, observations, index_definitions) VALUES ($1, $2, $3, $4)', [
      shape.total,
      shape.patients,
      shape.observations,
      JSON.stringify(defs),
    ]);
    for (const d of defs) await c.query(d.drop);
    return defs;
  });
  log(
    `dropped ${defs.length} indexes/keys for the load; loading ${shape.total.toLocaleString('en-US')} resources with ${LOAD_WORKERS} workers`,
  );

  // -- rows
  let resources = 0;
  let indexRows = 0;
  const workers: Worker[] = [];
  const stopWorkers = () => Promise.all(workers.map((w) => w.terminate())).then(() => undefined);
  const unregister = onCleanup('stop loader workers', stopWorkers);
  const progress = setInterval(() => {
    const secs = (performance.now() - t0) / 1000;
    const rate = resources / secs;
    const eta = rate > 0 ? (shape.total - resources) / rate : Number.NaN;
    log(
      `loaded ${resources.toLocaleString('en-US')} / ${shape.total.toLocaleString('en-US')} resources ` +
        `(${indexRows.toLocaleString('en-US')} index rows), ${fmtRate(rate)}, ETA ${eta.toFixed(0)} s`,
    );
  }, 15_000);
  try {
    await Promise.race([
      Promise.all(
        Array.from({ length: LOAD_WORKERS }, (_, w) => {
          const input: WorkerInput = {
            databaseUrl: url,
            profilesDir: `${REPO_ROOT}fhir-profiles`,
            shape,
            batchSize: BATCH,
            worker: w,
            workers: LOAD_WORKERS,
          };
          const worker = new Worker(new URL('./lib/bulk-load-worker.ts', import.meta.url), { workerData: input });
          workers.push(worker);
          return new Promise<void>((resolve, reject) => {
            worker.on('message', (m: WorkerMessage) => {
              if (m.type === 'progress') {
                resources += m.resources;
                indexRows += m.indexRows;
              } else if (m.type === 'done') {
                resolve();
              } else {
                reject(new Error(`loader worker ${w}: ${m.message}`));
              }
            });
            worker.on('error', reject);
            worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`loader worker ${w} exited with ${code}`))));
          });
        }),
      ),
      new Promise((_, reject) => setTimeout(() => reject(new Error('load timed out')), LOAD_TIMEOUT_S * 1000).unref()),
    ]);
  } finally {
    clearInterval(progress);
    await stopWorkers();
    unregister();
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  log(
    `rows loaded in ${loadSeconds.toFixed(0)} s (${fmtRate(shape.total / loadSeconds)} resources, ${fmtRate(indexRows / loadSeconds)} index rows)`,
  );

  // -- indexes: two builds at a time (one per core), biggest first
  const t1 = performance.now();
  const queue = [...defs].sort((a, b) => weight(b) - weight(a));
  await Promise.all(
    [0, 1].map(() =>
      withClient(url, async (c) => {
        await c.query("SET maintenance_work_mem = '1GB'");
        for (let d = queue.shift(); d; d = queue.shift()) {
          const s = performance.now();
          await c.query(d.create);
          log(`  index ${d.name} built in ${((performance.now() - s) / 1000).toFixed(1)} s`);
        }
      }),
    ),
  );
  const indexSeconds = (performance.now() - t1) / 1000;

  // -- vacuum (visibility map, hint bits) + statistics
  const t2 = performance.now();
  const tables = [...DATA_TABLES];
  await Promise.all(
    [0, 1].map(() =>
      withClient(url, async (c) => {
        for (let t = tables.shift(); t; t = tables.shift()) await c.query(`VACUUM (ANALYZE) ${t}`);
      }),
    ),
  );
  const vacuumSeconds = (performance.now() - t2) / 1000;
  const seconds = (performance.now() - t0) / 1000;
  await withClient(url, (c) => c.query('UPDATE bench_search_meta SET complete = true, load_seconds = $1', [seconds]));
  return { seconds, loadSeconds, indexSeconds, vacuumSeconds, indexRows };
}

/** Rough build cost ordering: trigram GIN and the big token/string tables first. */
function weight(d: IndexDef): number {
  const table: Record<string, number> = {
    sp_string: 6,
    sp_token: 5,
    resource_history: 4,
    resource: 3,
    sp_reference: 2,
    sp_date: 2,
    sp_quantity: 2,
  };
  return (table[d.table] ?? 1) * 10 + (d.create.includes('gin') ? 5 : 0);
}

// ---- queries ----------------------------------------------------------------------------------

interface QuerySpec {
  name: string;
  kind: 'token' | 'string' | 'reference';
  /** What it matches, for the table. */
  breadth: string;
  path: (n: number) => string;
}

function querySpecs(shape: DatasetShape): QuerySpec[] {
  const r = (q: number, n: number) => rng(seedOf(100 + q, n));
  const anyPatient = (q: number, n: number) => Math.floor(r(q, n)() * shape.patients);
  const anyObservation = (q: number, n: number) => Math.floor(r(q, n)() * shape.observations);
  const kindOf = (q: number, n: number) => OBSERVATION_KINDS[Math.floor(r(q, n)() * OBSERVATION_KINDS.length)];
  const family = (q: number, n: number) => FAMILY_NAMES[Math.floor(r(q, n)() * FAMILY_NAMES.length)];
  const enc = encodeURIComponent;
  return [
    {
      name: 'Patient?identifier=<mrn-system>|<mrn>',
      kind: 'token',
      breadth: '1 match',
      path: (n) => `Patient?identifier=${enc(`${MRN_SYSTEM}|${mrnOf(anyPatient(1, n))}`)}`,
    },
    {
      name: 'Observation?code=<loinc-system>|<code>',
      kind: 'token',
      breadth: `~${Math.round(shape.observations / OBSERVATION_KINDS.length).toLocaleString('en-US')} matches/code`,
      path: (n) => `Observation?code=${enc(`${LOINC}|${kindOf(2, n).code}`)}`,
    },
    {
      name: 'Patient?gender=female',
      kind: 'token',
      breadth: `~${Math.round(shape.patients / 2).toLocaleString('en-US')} matches`,
      path: () => 'Patient?gender=female',
    },
    {
      name: 'Observation?subject=Patient/<id>&code=<loinc>|<code>',
      kind: 'token',
      breadth: '~0-2 matches',
      path: (n) => {
        const j = anyObservation(4, n);
        return `Observation?subject=${enc(`Patient/${patientId(observationPatient(j, shape))}`)}&code=${enc(`${LOINC}|${kindOf(4, n).code}`)}`;
      },
    },
    {
      name: 'Observation?subject=Patient/<id>',
      kind: 'reference',
      breadth: '~4 matches',
      path: (n) => `Observation?subject=${enc(`Patient/${patientId(anyPatient(5, n))}`)}`,
    },
    {
      name: 'Patient?name=<family>',
      kind: 'string',
      breadth: `~${Math.round(shape.patients / FAMILY_NAMES.length).toLocaleString('en-US')} matches/name`,
      path: (n) => `Patient?name=${enc(family(6, n))}`,
    },
    {
      name: 'Patient?family=<3-letter prefix>',
      kind: 'string',
      breadth: 'prefix, 100s-1000s',
      path: (n) => `Patient?family=${enc(family(7, n).slice(0, 3).toLowerCase())}`,
    },
    {
      name: 'Patient?family=<family>&given=<given>',
      kind: 'string',
      breadth: '~0-10 matches',
      path: (n) => {
        // A real patient's names, so most searches hit.
        const i = anyPatient(8, n);
        const p = makePatientNames(i);
        return `Patient?family=${enc(p.family)}&given=${enc(p.given)}`;
      },
    },
  ];
}

function makePatientNames(i: number): { family: string; given: string } {
  const name = makePatient(i).name?.[0];
  return { family: name?.family ?? '', given: name?.given?.[0] ?? '' };
}

interface QueryResult {
  spec: QuerySpec;
  entriesPerPage: number;
  fullPages: number;
  single: LoadResult;
  loaded: LoadResult;
  cpu: CpuUse;
}

async function measureQuery(
  fhirUrl: string,
  serverPid: number,
  headers: Record<string, string>,
  spec: QuerySpec,
  q: number,
): Promise<QueryResult> {
  // Warm up and check what the query returns.
  let pages = 0;
  let entries = 0;
  let full = 0;
  await httpLoad({
    name: `${spec.name} (inspect)`,
    baseUrl: fhirUrl,
    headers,
    concurrency: 1,
    seconds: 30,
    maxRequests: 40,
    path: (n) => spec.path(1_000_000 + n),
    inspect: {
      count: 40,
      fn: (body) => {
        const b = JSON.parse(body) as { entry?: { search?: { mode?: string } }[] };
        const e = (b.entry ?? []).filter((x) => x.search?.mode === 'match').length;
        pages++;
        entries += e;
        if (e === PAGE) full++;
      },
    },
  });
  await waitForQuiet(serverPid, QUIET_WAIT);
  log(`${spec.name}: single client ${SINGLE_SECONDS}s`);
  const single = await httpLoad({
    name: spec.name,
    baseUrl: fhirUrl,
    headers,
    concurrency: 1,
    seconds: SINGLE_SECONDS,
    maxRequests: 100_000,
    path: (n) => spec.path(2_000_000 + n),
  });
  log(`${spec.name}: ${CONNECTIONS} clients ${DURATION}s`);
  const before = cpuSnapshot(serverPid);
  const loaded = await httpLoad({
    name: spec.name,
    baseUrl: fhirUrl,
    headers,
    concurrency: CONNECTIONS,
    seconds: DURATION,
    maxRequests: 1_000_000,
    path: (n) => spec.path(3_000_000 + q * 1_000_000 + n),
  });
  const cpu = cpuBetween(before, cpuSnapshot(serverPid));
  for (const res of [single, loaded]) {
    if (res.failed > 0) log(`${spec.name}: ${res.failed} failed requests ${JSON.stringify(res.statusCodes)}`);
  }
  log(
    `${spec.name}: single p95 ${fmtMs(single.p95)}, c${CONNECTIONS} ${fmtRate(loaded.rps)} p95 ${fmtMs(loaded.p95)} (cpu ${fmtCpu(cpu)})`,
  );
  return { spec, entriesPerPage: pages ? entries / pages : 0, fullPages: pages ? full / pages : 0, single, loaded, cpu };
}

/** EXPLAIN (ANALYZE, BUFFERS) of the SQL the server runs for one search (built by buildSearchQuery, as executeSearch does). */
async function explain(url: string, repo: PostgresRepository, path: string): Promise<string> {
  const request = parseSearchRequest(path);
  const q = buildSearchQuery(repo, request);
  const limit = q.params.add(PAGE + 1);
  const offset = q.params.add(0);
  const sql = `SELECT r.content FROM resource r WHERE ${q.where} ORDER BY ${q.orderBy} LIMIT ${limit} OFFSET ${offset}`;
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, q.params.values);
    const params = q.params.values.map((v, i) => `$${i + 1} = ${JSON.stringify(v)}`).join(', ');
    return `-- GET ${path}\n${sql}\n-- ${params}\n\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`;
  });
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now();
  const shape = datasetShape(RESOURCES);
  let url = process.env.BENCH_DATABASE_URL;
  if (url) {
    assertLocal(url);
  } else if (KEEP) {
    const name = `es_bench_search_${RESOURCES}`;
    url = databaseUrl(ADMIN_URL, name);
    if ((await databaseExists(ADMIN_URL, name)) && (await loadedMeta(url))?.resources !== RESOURCES) {
      log(`database ${name} exists but holds no complete load of ${RESOURCES}; recreating it`);
      await dropDatabase(ADMIN_URL, name);
    }
    if (!(await databaseExists(ADMIN_URL, name))) await createDatabase(ADMIN_URL, name);
  } else {
    const name = scratchName('es_bench_search');
    url = await createDatabase(ADMIN_URL, name);
    onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));
  }
  log(`database ${databaseName(url)}`);
  await migrate(url);
  setBenchDatabase(databaseName(url));

  let loadInfo: string;
  const meta = await loadedMeta(url);
  if (meta?.resources === RESOURCES) {
    loadInfo = `reused existing load of ${RESOURCES.toLocaleString('en-US')} resources (originally loaded in ${meta.load_seconds.toFixed(0)} s)`;
    log(loadInfo);
  } else if (meta) {
    throw new Error(`database ${databaseName(url)} holds a load of ${meta.resources} resources, not ${RESOURCES}`);
  } else {
    const l = await bulkLoad(url, shape);
    loadInfo =
      `loaded ${RESOURCES.toLocaleString('en-US')} resources (${shape.patients.toLocaleString('en-US')} Patient, ` +
      `${shape.observations.toLocaleString('en-US')} Observation; ${l.indexRows.toLocaleString('en-US')} index rows) in ${l.seconds.toFixed(0)} s: ` +
      `rows ${l.loadSeconds.toFixed(0)} s (${fmtRate(RESOURCES / l.loadSeconds)}), indexes ${l.indexSeconds.toFixed(0)} s, VACUUM ANALYZE ${l.vacuumSeconds.toFixed(0)} s`;
    log(loadInfo);
  }
  const sizes = await withClient(url, async (c) => {
    const { rows } = await c.query<{ relname: string; rows: number; size: string; idx: string }>(
      `SELECT c.relname, c.reltuples::bigint AS rows, pg_size_pretty(pg_table_size(c.oid)) AS size, pg_size_pretty(pg_indexes_size(c.oid)) AS idx
       FROM pg_class c WHERE c.relname = ANY($1::text[]) AND c.relkind = 'r' ORDER BY c.relname`,
      [DATA_TABLES],
    );
    return rows;
  });

  // Plans first, on the quiet database.
  loadProfiles(`${REPO_ROOT}fhir-profiles`);
  const repo = new PostgresRepository({
    pool: undefined as unknown as pg.Pool,
    fhirBaseUrl: 'http://127.0.0.1/fhir/R4/',
    defaultSearchCount: PAGE,
    maxSearchCount: 1000,
    profiles: new Map(),
    logger: pino({ level: 'silent' }),
  });
  const specs = querySpecs(shape);

  log('starting server');
  const creds = await credentialsFor(url);
  const server = await startServerProcess({ databaseUrl: url, env: serverEnv(creds) });
  log(`server pid ${server.pid} healthy after ${server.startToHealthyMs.toFixed(0)} ms`);
  const headers = authHeaders(await accessToken(server.url, creds));
  // Start-up work may continue after /healthcheck answers (e.g. GraphQL schema warm-up); let it finish.
  const settle = await waitServerSettled(server.pid, 60);
  log(`server settled ${settle.seconds.toFixed(0)} s after healthy (${settle.busySeconds.toFixed(1)} CPU-s of background work)`);
  const results: QueryResult[] = [];
  for (const [q, spec] of specs.entries()) {
    results.push(await measureQuery(server.fhirUrl, server.pid, headers, spec, q));
  }
  await server.stop();

  const plans: string[] = [];
  const planFor = async (spec: QuerySpec, why: string) =>
    plans.push(`#### ${why}: ${spec.name}\n\n\`\`\`\n${await explain(url, repo, spec.path(7))}\n\`\`\``);
  await planFor(specs[1], 'Token search');
  await planFor(specs[5], 'String search');
  for (const r of results) {
    if (![specs[1], specs[5]].includes(r.spec) && Math.max(r.single.p95 ?? 0, r.loaded.p95 ?? 0) >= P95_TARGET_MS)
      await planFor(r.spec, 'Slow search');
  }

  // ---- report
  process.stdout.write(
    `\n## EmergiSphere search benchmark: ${RESOURCES.toLocaleString('en-US')} resources\n\n` +
      `machine: ${availableParallelism()} cores, Node ${process.versions.node}; database ${databaseName(url)}; ${loadInfo}.\n` +
      `Each query: ${SINGLE_SECONDS}s single-client, then ${DURATION}s at ${CONNECTIONS} concurrent clients (keep-alive HTTP with a client_credentials bearer token, exact latencies); ` +
      `values drawn deterministically from the dataset; page size ${PAGE}.\n`,
  );
  printTable(
    'Tables',
    ['Table', 'Rows (est.)', 'Heap', 'Indexes'],
    sizes.map((s) => [s.relname, Number(s.rows), s.size, s.idx]),
  );
  printTable(
    `Search latency (single client and ${CONNECTIONS} concurrent clients)`,
    [
      'Query',
      'Kind',
      'Matches',
      'Entries/page',
      '1c p50',
      '1c p95',
      '1c p99',
      `${CONNECTIONS}c req/s`,
      `${CONNECTIONS}c p50`,
      `${CONNECTIONS}c p95`,
      `${CONNECTIONS}c p99`,
      'Failed',
      'CPU srv / pg / gen / other',
    ],
    results.map((r) => [
      r.spec.name,
      r.spec.kind,
      r.spec.breadth,
      r.entriesPerPage.toFixed(1),
      fmtMs(r.single.p50),
      fmtMs(r.single.p95),
      fmtMs(r.single.p99),
      fmtRate(r.loaded.rps),
      fmtMs(r.loaded.p50),
      fmtMs(r.loaded.p95),
      fmtMs(r.loaded.p99),
      r.single.failed + r.loaded.failed,
      fmtCpu(r.cpu),
    ]),
  );
  const checks: Check[] = [];
  for (const r of results) {
    const failed = r.single.failed + r.loaded.failed;
    checks.push({
      metric: `${r.spec.name}: p95, single client`,
      target: `< ${P95_TARGET_MS} ms`,
      measured: fmtMs(r.single.p95),
      pass: (r.single.p95 ?? Number.POSITIVE_INFINITY) < P95_TARGET_MS && failed === 0,
    });
    checks.push({
      metric: `${r.spec.name}: p95, ${CONNECTIONS} clients`,
      target: `< ${P95_TARGET_MS} ms`,
      measured: fmtMs(r.loaded.p95),
      pass: (r.loaded.p95 ?? Number.POSITIVE_INFINITY) < P95_TARGET_MS && failed === 0,
      note: failed ? `${failed} failed requests` : `${fmtRate(r.loaded.rps)}`,
    });
  }
  printChecks('Targets', checks);
  process.stdout.write(`\n### Query plans\n\n${plans.join('\n\n')}\n`);
  const missed = checks.filter((c) => c.pass === false).length;
  process.stdout.write(
    `\n${missed === 0 ? 'All targets met' : `${missed} target(s) missed`} (total ${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
  );
  if (KEEP) {
    process.stdout.write(
      `\nDatabase kept for reuse: ${url}\n(rerun with BENCH_KEEP_DB=1 BENCH_RESOURCES=${RESOURCES} to skip loading; drop it with: psql -c 'DROP DATABASE ${databaseName(url)}')\n`,
    );
  }
}

runMain(main);
