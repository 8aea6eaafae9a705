// What the ED fact trigger costs per write, before and after migration 0013 (the copies between
// fact rows and the per-visit lock): backend CPU per statement that writes a resource row.
//
//   node scripts/bench/ed-fact-writes.ts
//
// Two scratch databases, one migrated up to 0012 and one to 0013; each round writes the same
// resources into both, one after the other (A/B interleaved, so both see the same machine load):
// ED Encounters, their ESI Observations and eight step Tasks each, then updates (same level,
// re-triage, a Task status). Statements go straight to the `resource` table (no search index, no
// history, no HTTP), so the figure is the trigger's work plus one row upsert, not a FHIR write.
// CPU comes from /proc/<backend pid>/schedstat (nanoseconds), robust to other load on the machine.
//
// Environment: BENCH_WRITES=500 visits per round, BENCH_ROUNDS=3.
import { readFileSync } from 'node:fs';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { ADMIN_URL, assertLocal, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { REPO_ROOT } from './lib/server-process.ts';
import { log, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number(v) > 0 ? Math.floor(Number(v)) : d);
const N = num(process.env.BENCH_WRITES, 500);
const ROUNDS = num(process.env.BENCH_ROUNDS, 3);
const ES = 'https://emergisphere.dev/fhir';
const T0 = Date.parse('2025-01-01T00:00:00Z');

type Row = { resourceType: string; id: string } & Record<string, unknown>;
const iso = (ms: number) => new Date(ms).toISOString();
const encounter = (i: number, level: number): Row => ({
  resourceType: 'Encounter',
  id: `e${i}`,
  status: 'in-progress',
  class: { code: 'EMER' },
  subject: { reference: `Patient/p${i % 700}` },
  period: { start: iso(T0 + i * 300_000) },
  priority: { coding: [{ system: `${ES}/CodeSystem/esi`, code: String(level) }] },
  location: [{ location: { reference: 'Location/bed-1' } }],
});
const esiObservation = (i: number): Row => ({
  resourceType: 'Observation',
  id: `o${i}`,
  status: 'final',
  code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
  encounter: { reference: `Encounter/e${i}` },
  effectiveDateTime: iso(T0 + i * 300_000 + 600_000),
  valueCodeableConcept: { coding: [{ system: `${ES}/CodeSystem/esi`, code: '3' }] },
  method: { coding: [{ code: 'rules' }] },
});
const task = (i: number, k: number, status = 'completed'): Row => ({
  resourceType: 'Task',
  id: `t${i}-${k}`,
  status,
  code: { coding: [{ system: `${ES}/CodeSystem/workflow-step`, code: `step-${k}` }] },
  encounter: { reference: `Encounter/e${i}` },
  authoredOn: iso(T0 + i * 300_000),
  executionPeriod: { start: iso(T0 + i * 300_000 + 1000), end: iso(T0 + i * 300_000 + 6000) },
});

const PHASES: [string, (i: number) => Row[]][] = [
  ['create Encounter', (i) => [encounter(i, 3)]],
  ['create ESI Observation', (i) => [esiObservation(i)]],
  ['create step Task', (i) => Array.from({ length: 8 }, (_, k) => task(i, k))],
  ['update Encounter, same level', (i) => [encounter(i, 3)]],
  ['update Encounter, re-triage', (i) => [encounter(i, 2)]],
  ['update step Task status', (i) => [task(i, 0, 'failed')]],
];

/** Microseconds of backend CPU per statement, per phase. */
async function round(url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('TRUNCATE resource, ed_visit_fact, ed_admission_fact, ed_acuity_fact, ed_step_fact, ed_alarm_fact');
    await c.query(`DO $$ BEGIN IF to_regclass('ed_visit_sync') IS NOT NULL THEN TRUNCATE ed_visit_sync; END IF; END $$`);
    const pid = (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0].p;
    const cpuNs = () => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    const out: number[] = [];
    for (const [, rows] of PHASES) {
      let statements = 0;
      const start = cpuNs();
      for (let i = 0; i < N; i++) {
        for (const r of rows(i)) {
          await c.query(
            `INSERT INTO resource (resource_type, id, version_id, last_updated, content) VALUES ($1, $2, gen_random_uuid(), now(), $3)
             ON CONFLICT (resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id, content = EXCLUDED.content`,
            [r.resourceType, r.id, JSON.stringify(r)],
          );
          statements++;
        }
      }
      out.push((cpuNs() - start) / 1000 / statements);
    }
    return out;
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  assertLocal(ADMIN_URL);
  const dbs: { label: string; url: string; samples: number[][] }[] = [];
  for (const [label, count] of [
    ['0012 (joins)', 12],
    ['0013 (copies)', 13],
  ] as const) {
    const name = scratchName('es_bench_fact_writes');
    const url = await createDatabase(ADMIN_URL, name);
    onCleanup(`drop ${name}`, () => dropDatabase(ADMIN_URL, name));
    await runner({
      databaseUrl: url,
      dir: `${REPO_ROOT}server/db/migrations`,
      direction: 'up',
      count,
      migrationsTable: 'schema_migrations',
      checkOrder: true,
      log: () => undefined,
      verbose: false,
    });
    dbs.push({ label, url, samples: [] });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const db of dbs) db.samples.push(await round(db.url));
    log(`round ${r + 1} of ${ROUNDS} done`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  printTable(
    `ED fact trigger: backend CPU per resource-row write (µs, median of ${ROUNDS} rounds of ${N} visits)`,
    ['Write', ...dbs.map((d) => d.label)],
    PHASES.map(([phase], p) => [phase, ...dbs.map((d) => median(d.samples.map((s) => s[p])).toFixed(0))]),
  );
}

runMain(main);
