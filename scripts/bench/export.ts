// ED analytics and Bulk Data export at scale.
//
//   node scripts/bench/export.ts          (npm run bench:export)
//
// Loads a year-like ED dataset straight into PostgreSQL with the server's bulk insert (real
// indexer, no HTTP): per visit an EMER Encounter with triage/provider times, bed and acuity, an
// ESI Observation (some overridden), eight workflow-step Tasks, inpatient Encounters for
// admissions and device alarms (DetectedIssue). Then starts `node server/index.ts` on it, times
// each `Measure/$ed-metrics` query group over the whole period (target ≤ 1 s) and a system-level
// `$export` of everything (target ≥ 5,000 resources/s), and prints the figures.
//
// Environment:
//   BENCH_ENCOUNTERS=10000   ED visits (the issue's figure: 100000, about a year of a busy ED)
//   BENCH_RUNS=3             timed runs per metrics query (the median is reported)
//   BENCH_KEEP_DB=1          leave the loaded database in place (for EXPLAIN); drop it yourself
//   BENCH_ADMIN_URL          admin URL of the local PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres)
//   BENCH_FACTS_ONLY=100000  skip the resource load: fill the ED fact tables with that many synthetic
//                            visits straight from generate_series (lib/synthetic-ed-facts.ts), time
//                            the metric queries only (no $export); the table says "synthetic facts"
import type { Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { migrate } from '../../server/db/migrate.ts';
import { bulkInsertNew, stampNew } from '../../server/fhir/bulk-insert.ts';
import { loadProfiles } from '../../server/fhir/definitions.ts';
import { accessToken, authHeaders, credentialsFor, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { cpuSnapshot, postgresTicksBetween, setBenchDatabase } from './lib/cpu.ts';
import { rng } from './lib/data.ts';
import { ADMIN_URL, assertLocal, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { REPO_ROOT, startServerProcess } from './lib/server-process.ts';
import { factCounts, fillSyntheticFacts } from './lib/synthetic-ed-facts.ts';
import { type Check, fmtMs, fmtRate, log, printChecks, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const FACTS_ONLY = process.env.BENCH_FACTS_ONLY ? Math.floor(num(process.env.BENCH_FACTS_ONLY, 100_000)) : undefined;
const ENCOUNTERS = FACTS_ONLY ?? Math.floor(num(process.env.BENCH_ENCOUNTERS, 10_000));
const RUNS = Math.floor(num(process.env.BENCH_RUNS, 3));
const QUERY_TARGET_MS = 1000;
const EXPORT_TARGET = 5000;
const BATCH = 2000;

const ES = 'https://emergisphere.dev/fhir';
const STEPS = ['triage', 'admission', 'medical-records', 'legal', 'smart-device', 'communication', 'scheduling', 'billing'];
const ZONES = ['resus', 'acute', 'fast-track'];
const MIN = 60_000;
const HOUR = 60 * MIN;
const YEAR_START = Date.parse('2025-01-01T00:00:00Z');

const spanMs = (encounters: number) => Math.max(1, Math.round((encounters / 100_000) * 365)) * 24 * HOUR;
const BEDS = Array.from({ length: 30 }, (_, i) => `bench-bed-${i}`);

/** The ED area and its beds, in three zones. */
function locations(): Resource[] {
  return [
    { resourceType: 'Location', id: 'bench-ed', name: 'ED', physicalType: { coding: [{ code: 'wa' }] } },
    ...BEDS.map(
      (id, i): Resource => ({
        resourceType: 'Location',
        id,
        name: `Bed ${i}`,
        physicalType: { coding: [{ code: 'bd' }] },
        partOf: { reference: 'Location/bench-ed' },
        type: [{ coding: [{ system: `${ES}/CodeSystem/bed-zone`, code: ZONES[i % 3] }] }],
      }),
    ),
  ];
}

const iso = (ms: number) => new Date(ms).toISOString();
const esiCoding = (level: number) => ({ coding: [{ system: `${ES}/CodeSystem/esi`, code: String(level) }] });

/** The visits of one batch, with everything written about them. */
function* dataset(encounters: number): Generator<Resource[]> {
  const rand = rng(42);
  const span = spanMs(encounters);
  const patients = Math.max(1, Math.floor(encounters * 0.7));
  const beds = BEDS;
  const fixed: Resource[] = [
    ...locations(),
    ...Array.from(
      { length: patients },
      (_, i): Resource => ({ resourceType: 'Patient', id: `bench-p-${i}`, name: [{ family: `Patient ${i}` }] }),
    ),
  ];
  for (let i = 0; i < fixed.length; i += BATCH) yield fixed.slice(i, i + BATCH);
  let batch: Resource[] = [];
  for (let n = 0; n < encounters; n++) {
    const id = `bench-e-${n}`;
    const patient = { reference: `Patient/bench-p-${Math.floor(rand() * patients)}` };
    const encounter = { reference: `Encounter/${id}` };
    const arrival = YEAR_START + Math.floor(rand() * span);
    const r = rand();
    const esi = r < 0.02 ? 1 : r < 0.17 ? 2 : r < 0.62 ? 3 : r < 0.92 ? 4 : 5;
    const lwbs = rand() < 0.02;
    const admitted = !lwbs && rand() < 0.2;
    const triaged = arrival + (2 + rand() * 18) * MIN;
    const seen = triaged + (5 + rand() * 80) * MIN;
    const departure = lwbs ? triaged + rand() * 2 * HOUR : seen + (1 + rand() * 7) * HOUR;
    batch.push({
      resourceType: 'Encounter',
      id,
      status: lwbs ? 'cancelled' : 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      subject: patient,
      period: { start: iso(arrival), end: iso(departure) },
      priority: esiCoding(esi),
      reasonCode: [{ text: 'chest pain' }],
      location: [{ location: { reference: `Location/${beds[Math.floor(rand() * beds.length)]}` }, status: 'active' }],
      ...(lwbs
        ? { hospitalization: { dischargeDisposition: { coding: [{ code: 'oth' }], text: 'LWBS' } } }
        : { participant: [{ type: [{ coding: [{ code: 'ATND' }] }], period: { start: iso(seen) }, individual: { display: 'Dr Bench' } }] }),
    } as Resource);
    if (admitted) {
      batch.push({
        resourceType: 'Encounter',
        status: 'in-progress',
        class: { code: 'IMP' },
        subject: patient,
        partOf: encounter,
        period: { start: iso(departure - (0.5 + rand() * 5) * HOUR) },
      } as Resource);
    }
    const obs = (at: number, level: number, method: string): Resource => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
      subject: patient,
      encounter,
      effectiveDateTime: iso(at),
      valueCodeableConcept: esiCoding(level),
      method: { coding: [{ system: `${ES}/CodeSystem/observation-method`, code: method }] },
      note: [{ text: 'ESI rationale' }],
    });
    batch.push(obs(triaged, esi, 'rules'));
    if (rand() < 0.05) batch.push(obs(triaged + 10 * MIN, Math.max(1, esi - 1), 'clinician-override'));
    let t = arrival + 1000;
    for (const step of STEPS) {
      const failed = rand() < 0.02;
      const took = 500 + rand() * 8000;
      batch.push({
        resourceType: 'Task',
        status: failed ? 'failed' : 'completed',
        intent: 'order',
        code: { coding: [{ system: `${ES}/CodeSystem/workflow-step`, code: step }] },
        focus: encounter,
        encounter,
        for: patient,
        authoredOn: iso(arrival),
        executionPeriod: { start: iso(t), end: iso(t + took) },
        owner: { reference: `Bot/bench-${step}`, display: step },
      } as Resource);
      t += took;
    }
    const alarms = rand() < 0.2 ? 1 + Math.floor(rand() * 3) : 0;
    for (let a = 0; a < alarms; a++) {
      batch.push({
        resourceType: 'DetectedIssue',
        status: 'final',
        patient,
        author: { reference: 'Device/bench-watch' },
        identifiedDateTime: iso(arrival + rand() * (departure - arrival)),
        detail: 'HIGH: heart rate 140',
      } as Resource);
    }
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

async function load(url: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  let total = 0;
  try {
    const started = Date.now();
    // Two batches in flight: one being generated and indexed in JS while PostgreSQL writes the other.
    let pending: Promise<void> | undefined;
    for (const batch of dataset(ENCOUNTERS)) {
      const stamped = batch.map((r) => stampNew(r));
      await pending;
      pending = bulkInsertNew(pool, stamped);
      total += stamped.length;
      if (total % 50_000 < BATCH) log(`loaded ${total.toLocaleString('en-US')} resources`);
    }
    await pending;
    log(`loaded ${total.toLocaleString('en-US')} resources in ${((Date.now() - started) / 1000).toFixed(1)} s; analyzing`);
    await pool.query('VACUUM ANALYZE');
  } finally {
    await pool.end();
  }
  return total;
}

/** Synthetic facts (no resources but the Locations): see lib/synthetic-ed-facts.ts. */
async function loadFactsOnly(url: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await bulkInsertNew(
      pool,
      locations().map((r) => stampNew(r)),
    );
  } finally {
    await pool.end();
  }
  const started = Date.now();
  await fillSyntheticFacts(url, { visits: ENCOUNTERS, from: new Date(YEAR_START), spanMs: spanMs(ENCOUNTERS), beds: BEDS, steps: STEPS });
  const counts = await factCounts(url);
  log(
    `synthetic facts in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.entries(counts)
      .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
      .join(', ')}`,
  );
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

async function main(): Promise<void> {
  assertLocal(ADMIN_URL);
  const name = scratchName('es_bench_export');
  const url = await createDatabase(ADMIN_URL, name);
  setBenchDatabase(name);
  if (process.env.BENCH_KEEP_DB === '1') {
    log(`keeping database ${url}`);
  } else {
    onCleanup('drop database', () => dropDatabase(ADMIN_URL, name));
  }
  await migrate(url);
  loadProfiles(`${REPO_ROOT}fhir-profiles`);
  log(`generating ${ENCOUNTERS.toLocaleString('en-US')} ED visits${FACTS_ONLY ? ' as synthetic fact rows' : ''}`);
  const resources = FACTS_ONLY ? await loadFactsOnly(url) : await load(url);

  const creds = await credentialsFor(url);
  const server = await startServerProcess({ databaseUrl: url, env: serverEnv(creds), logLevel: 'warn' });
  onCleanup('stop server', () => server.stop().then(() => undefined));
  const headers = authHeaders(await accessToken(server.url, creds));

  const days = Math.max(1, Math.round((ENCOUNTERS / 100_000) * 365));
  const end = new Date(YEAR_START + days * 24 * HOUR).toISOString().slice(0, 10);
  const whole = `start=2025-01-01&end=${end}`;
  const queries: [string, string][] = [
    ['flow (whole period)', `${whole}&group=flow`],
    ['alarms (whole period)', `${whole}&group=alarms`],
    ['agents (whole period)', `${whole}&group=agents`],
    ['flow, area=resus, acuity=1,2', `${whole}&group=flow&area=resus&acuity=1,2`],
    ['all groups (whole period: the dashboard)', whole],
    ['all groups, area=resus, acuity=1,2', `${whole}&area=resus&acuity=1,2`],
    ['all groups (one day)', 'start=2025-01-02&end=2025-01-03'],
  ];
  const rows: (string | number)[][] = [];
  const checks: Check[] = [];
  let arrivals = 0;
  for (const [label, q] of queries) {
    const times: number[] = [];
    const cpus: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const cpu0 = cpuSnapshot(server.pid);
      const { ms, value } = await timed(async () => {
        const res = await fetch(`${server.fhirUrl}Measure/$ed-metrics?${q}&store=false`, { headers });
        if (!res.ok) throw new Error(`${label}: HTTP ${res.status} ${await res.text()}`);
        return (await res.json()) as { parameter: { name: string; valueString?: string }[] };
      });
      const cpu1 = cpuSnapshot(server.pid);
      // CPU of the server process and this database's PostgreSQL backends (ticks of 10 ms): what the
      // query costs, whatever else runs on the machine; wall time on 2 idle cores is at most this.
      const cpuMs = (cpu1.server - cpu0.server + postgresTicksBetween(cpu0, cpu1)) * 10;
      if (i > 0) {
        times.push(ms); // the first run warms caches
        cpus.push(cpuMs);
      }
      const metrics = JSON.parse(value.parameter.find((p) => p.name === 'metrics')?.valueString ?? '{}');
      if (label.startsWith('flow (whole')) arrivals = metrics.flow?.arrivals ?? 0;
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    cpus.sort((a, b) => a - b);
    rows.push([label, fmtMs(median), fmtMs(times[times.length - 1]), fmtMs(cpus[Math.floor(cpus.length / 2)])]);
    checks.push({
      metric: `metrics: ${label}`,
      target: `≤ ${QUERY_TARGET_MS} ms`,
      measured: fmtMs(median),
      pass: median <= QUERY_TARGET_MS,
      note: `CPU ${fmtMs(cpus[Math.floor(cpus.length / 2)])} (server + PostgreSQL)`,
    });
  }
  printTable(
    `Measure/$ed-metrics (${arrivals.toLocaleString('en-US')} visits in the period${FACTS_ONLY ? ', SYNTHETIC FACTS from generate_series, no resources' : ''}, median of ${RUNS})`,
    ['Query', 'Median', 'Max', 'CPU, median (server + PostgreSQL)'],
    rows,
  );
  if (FACTS_ONLY) {
    printChecks(`ED analytics on ${ENCOUNTERS.toLocaleString('en-US')} synthetic visits (fact tables only; $export not run)`, checks);
    return;
  }

  const { ms: exportMs, value: manifest } = await timed(async () => {
    const kick = await fetch(`${server.fhirUrl}$export`, { headers: { ...headers, Prefer: 'respond-async' } });
    if (kick.status !== 202) throw new Error(`$export kick-off: HTTP ${kick.status} ${await kick.text()}`);
    const status = kick.headers.get('content-location') as string;
    for (;;) {
      const res = await fetch(status, { headers });
      if (res.status === 200) return (await res.json()) as { output: { type: string; count: number }[] };
      if (res.status !== 202) throw new Error(`$export status: HTTP ${res.status} ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  const exported = manifest.output.reduce((n, o) => n + o.count, 0);
  const perSecond = exported / (exportMs / 1000);
  printTable(
    'System $export',
    ['Type', 'Resources'],
    [...new Map(manifest.output.map((o) => [o.type, 0])).keys()].map((type) => [
      type,
      manifest.output.filter((o) => o.type === type).reduce((n, o) => n + o.count, 0),
    ]),
  );
  checks.push({
    metric: '$export throughput',
    target: `≥ ${EXPORT_TARGET.toLocaleString('en-US')}/s`,
    measured: fmtRate(perSecond),
    pass: perSecond >= EXPORT_TARGET,
    note: `${exported.toLocaleString('en-US')} of ${resources.toLocaleString('en-US')} resources in ${(exportMs / 1000).toFixed(1)} s (kick-off to manifest)`,
  });
  printChecks(`ED analytics and export, ${ENCOUNTERS.toLocaleString('en-US')} encounters`, checks);
}

runMain(main);
