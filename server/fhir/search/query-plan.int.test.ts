import { parseSearchRequest } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { createPool } from '../../db/pool.ts';
import { PostgresRepository } from '../repo.ts';
import { buildSearchQuery } from './execute.ts';

let t: TestServer;

const ROWS = 5000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The plan PostgreSQL chooses for the page query of a search, with the search's own bind values. */
async function planOf(query: string): Promise<PlanNode[]> {
  const repo = t.server.app.repo();
  const q = buildSearchQuery(repo, parseSearchRequest(query));
  const { rows } = await t.server.app.repoContext.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    `EXPLAIN (FORMAT JSON) SELECT r.content FROM resource r WHERE ${q.where} ORDER BY ${q.orderBy} LIMIT 21`,
    q.params.values,
  );
  return nodes(rows[0]['QUERY PLAN'][0].Plan);
}

type AnalyzedNode = PlanNode & { 'Actual Rows': number; 'Actual Loops': number; 'Rows Removed by Filter'?: number };

/** The plan of a search's page query with its own bind values, executed (EXPLAIN ANALYZE). */
async function analyzedPlanOf(query: string, limit: number): Promise<AnalyzedNode[]> {
  const q = buildSearchQuery(t.server.app.repo(), parseSearchRequest(query));
  const { rows } = await t.server.app.repoContext.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    `EXPLAIN (ANALYZE, FORMAT JSON) SELECT r.content FROM resource r WHERE ${q.where} ORDER BY ${q.orderBy} LIMIT ${limit}`,
    q.params.values,
  );
  return nodes(rows[0]['QUERY PLAN'][0].Plan) as AnalyzedNode[];
}

/**
 * The generic plan of a search's page query (what a prepared statement runs once PostgreSQL stops
 * planning it per execution), optionally executed (ANALYZE) with the search's own values.
 */
async function genericPlanOf(query: string, analyze = false): Promise<(PlanNode & { 'Actual Rows': number; 'Actual Loops': number })[]> {
  const q = buildSearchQuery(t.server.app.repo(), parseSearchRequest(query));
  const client = await t.server.app.repoContext.pool.connect();
  try {
    await client.query('SET plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE generic_search AS SELECT r.content FROM resource r WHERE ${q.where} ORDER BY ${q.orderBy} LIMIT 21`);
    const args = q.params.values.map((v) => client.escapeLiteral(String(v))).join(', ');
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (${analyze ? 'ANALYZE, ' : ''}FORMAT JSON) EXECUTE generic_search(${args})`,
    );
    return nodes(rows[0]['QUERY PLAN'][0].Plan) as (PlanNode & { 'Actual Rows': number; 'Actual Loops': number })[];
  } finally {
    // The connection is discarded: its session settings and statement must not leak into the pool.
    client.release(true);
  }
}

/** ROWS bare resources `<prefix>1`…, written straight into the resource table (no index rows). */
async function insertBareResources(resourceType: string, prefix: string): Promise<void> {
  await t.server.app.repoContext.pool.query(
    `INSERT INTO resource (resource_type, id, version_id, last_updated, content)
     SELECT $2, $3 || i, gen_random_uuid(), now(), json_build_object('resourceType', $2::text, 'id', $3 || i)::text
     FROM generate_series(1, $1) i`,
    [ROWS, resourceType, prefix],
  );
}

function scansOf(plan: PlanNode[], relation: string): string[] {
  return plan.filter((n) => n['Relation Name'] === relation).map((n) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}`);
}

beforeAll(async () => {
  t = await startTestServer();
  // A few real resources through the API...
  for (let i = 0; i < 20; i++) {
    await t.medplum.createResource<Patient>({
      resourceType: 'Patient',
      gender: i % 2 ? 'male' : 'female',
      identifier: [{ system: 'urn:mrn', value: `REAL-${i}` }],
      name: [{ family: `Realname${i}` }],
      birthDate: `19${50 + i}-01-01`,
    });
  }
  // ...and thousands of synthetic ones written straight into the tables, so the planner faces
  // tables where a scan would be the wrong choice.
  const pool = t.server.app.repoContext.pool;
  await insertBareResources('Patient', 'syn-');
  await pool.query(
    `INSERT INTO sp_token (resource_type, id, code, system, value)
     SELECT 'Patient', 'syn-' || i, 'identifier', 'urn:mrn', 'MRN-' || i FROM generate_series(1, $1) i
     UNION ALL SELECT 'Patient', 'syn-' || i, 'gender', NULL, CASE WHEN i % 2 = 0 THEN 'male' ELSE 'female' END FROM generate_series(1, $1) i
     UNION ALL SELECT 'Patient', 'syn-' || i, 'active', NULL, 'true' FROM generate_series(1, $1) i`,
    [ROWS],
  );
  await pool.query(
    `INSERT INTO sp_string (resource_type, id, code, value, raw)
     SELECT 'Patient', 'syn-' || i, 'name', 'synthetic' || i, 'Synthetic' || i FROM generate_series(1, $1) i`,
    [ROWS],
  );
  await pool.query(
    `INSERT INTO sp_date (resource_type, id, code, lo, hi)
     SELECT 'Patient', 'syn-' || i, 'birthdate', d, d + interval '1 day'
     FROM generate_series(1, $1) i, LATERAL (SELECT timestamptz '1900-01-01' + i * interval '1 day' AS d) x`,
    [ROWS],
  );
  await pool.query(
    `INSERT INTO sp_reference (resource_type, id, code, target_type, target_id, reference)
     SELECT 'Patient', 'syn-' || i, 'organization', 'Organization', 'org-' || (i % 500), 'Organization/org-' || (i % 500)
     FROM generate_series(1, $1) i`,
    [ROWS],
  );
  await pool.query('ANALYZE resource, sp_token, sp_string, sp_date, sp_reference');
});

afterAll(async () => {
  await t?.close();
});

describe('search SQL uses the index tables’ indexes', () => {
  test('token search: an index scan on sp_token, not a sequential scan', async () => {
    const plan = await planOf('Patient?identifier=urn:mrn|MRN-1234');
    const scans = scansOf(plan, 'sp_token');
    expect(scans.length).toBeGreaterThan(0);
    expect(
      scans.every((s) => /^(Index Scan|Index Only Scan|Bitmap Heap Scan)/.test(s)),
      scans.join(', '),
    ).toBe(true);
    expect(plan.some((n) => n['Index Name'] === 'sp_token_code_value_id_idx')).toBe(true);
    expect(
      scansOf(plan, 'resource').every((s) => !s.startsWith('Seq Scan')),
      scansOf(plan, 'resource').join(', '),
    ).toBe(true);
  });

  test('string prefix, date range and reference searches use their indexes too', async () => {
    const cases: [query: string, table: string, index: RegExp][] = [
      ['Patient?name=synthetic123', 'sp_string', /^sp_string_(value_id|trgm)_idx$/],
      ['Patient?birthdate=1901-01-01', 'sp_date', /^sp_date_(lo|hi)_idx$/],
      ['Patient?organization=Organization/org-7', 'sp_reference', /^sp_reference_target_idx$/],
    ];
    for (const [query, table, index] of cases) {
      const plan = await planOf(query);
      const scans = scansOf(plan, table);
      expect(scans.length, query).toBeGreaterThan(0);
      expect(
        scans.some((s) => s.startsWith('Seq Scan')),
        `${query}: ${scans.join(', ')}`,
      ).toBe(false);
      expect(
        plan.some((n) => index.test(n['Index Name'] ?? '')),
        `${query}: ${plan.map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`).join(', ')}`,
      ).toBe(true);
    }
  });

  test('a string prefix search narrows the index by its value in a generic plan (prepared statement)', async () => {
    // Search SELECTs run as prepared statements; after a few executions PostgreSQL may switch to a
    // generic plan, which knows no bind values. A LIKE pattern then only filters the rows of
    // (resource_type, code); the prefix range must stay an index condition.
    const plan = await genericPlanOf('Patient?name=synthetic123');
    const stringScans = plan.filter((n) => n['Index Name'] === 'sp_string_value_id_idx');
    expect(stringScans.length, plan.map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`).join(', ')).toBeGreaterThan(0);
    for (const scan of stringScans) {
      expect(scan['Index Cond'], JSON.stringify(scan)).toMatch(/\bvalue ~>=~/);
      expect(scan['Index Cond']).toMatch(/\bvalue ~<~/);
    }
    // ...and the search answers the same as a prefix match.
    const bundle = await t.medplum.search('Patient', 'name=realname1');
    expect(bundle.entry?.map((e) => (e.resource as Patient).name?.[0]?.family).sort()).toEqual(
      ['Realname1', ...Array.from({ length: 10 }, (_, i) => `Realname1${i}`)].sort(),
    );
  });

  test('a lookup of many identifiers probes the resource table by id, even with statistics that predate the data', async () => {
    // Devices written after the ANALYZE above: the statistics know of none, as in a new database
    // taking its first load. The semi-join plan then walked every Device once per search.
    const pool = t.server.app.repoContext.pool;
    await insertBareResources('Device', 'dev-');
    await pool.query(
      `INSERT INTO sp_token (resource_type, id, code, system, value)
       SELECT 'Device', 'dev-' || i, 'identifier', 'urn:serial', 'SN-' || i FROM generate_series(1, $1) i`,
      [ROWS],
    );
    const wanted = Array.from({ length: 25 }, (_, i) => `urn:serial|SN-${100 + i * 7}`);
    const plan = await analyzedPlanOf(`Device?identifier=${wanted.join(',')}`, 1000);
    const resourceRows = plan
      .filter((n) => n['Relation Name'] === 'resource')
      .reduce((sum, n) => sum + n['Actual Rows'] * n['Actual Loops'], 0);
    expect(plan[0]['Actual Rows']).toBe(25);
    // Only the 25 matches are read from the resource table, not all 5,000 Devices.
    expect(resourceRows).toBe(25);
    // ...and from the identifier index only the 25 rows probed by value, not all 5,000 Device identifiers.
    const tokenRows = plan
      .filter((n) => n['Relation Name'] === 'sp_token')
      .reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'], 0);
    expect(tokenRows).toBe(25);
    const found = await t.medplum.searchResources('Device', { identifier: wanted.slice(0, 3).join(','), _count: '100' });
    expect(found.map((d) => d.id).sort()).toEqual(['dev-100', 'dev-107', 'dev-114']);
  });

  test('a code + subject search starts from the patient in a generic plan, whatever the statistics say', async () => {
    // One LOINC code on every Observation, two Observations per patient. In a generic plan
    // PostgreSQL estimates both conditions at about one row; starting from the code it read every
    // Observation's code row to keep two (driver.ts). Fresh statistics, as autovacuum would leave them.
    const pool = t.server.app.repoContext.pool;
    await insertBareResources('Observation', 'obs-');
    await pool.query(
      `INSERT INTO sp_token (resource_type, id, code, system, value)
       SELECT 'Observation', 'obs-' || i, 'code', 'http://loinc.org', '8867-4' FROM generate_series(1, $1) i`,
      [ROWS],
    );
    await pool.query(
      `INSERT INTO sp_reference (resource_type, id, code, target_type, target_id, reference)
       SELECT 'Observation', 'obs-' || i, 'subject', 'Patient', 'syn-' || (i % 2500), 'Patient/syn-' || (i % 2500)
       FROM generate_series(1, $1) i`,
      [ROWS],
    );
    await pool.query('ANALYZE resource, sp_token, sp_reference');
    for (const query of [
      'Observation?code=http://loinc.org|8867-4&subject=Patient/syn-7',
      'Observation?subject=Patient/syn-7&code=8867-4',
    ]) {
      const plan = await genericPlanOf(query, true);
      expect(plan[0]['Actual Rows'], query).toBe(2);
      const tokenRows = plan
        .filter((n) => n['Relation Name'] === 'sp_token')
        .reduce((sum, n) => sum + n['Actual Rows'] * n['Actual Loops'], 0);
      // The code is looked up for the patient's two Observations only, not read for all 5,000.
      expect(tokenRows, `${query}: ${plan.map((n) => `${n['Node Type']} ${n['Relation Name'] ?? ''}`).join(', ')}`).toBeLessThanOrEqual(2);
    }
    const found = await t.medplum.searchResources('Observation', { code: 'http://loinc.org|8867-4', subject: 'Patient/syn-7' });
    expect(found.map((o) => o.id).sort()).toEqual(['obs-2507', 'obs-7']);
  });

  test('a probe looks the candidate’s rows up by id alone and checks the value on them', async () => {
    // 5,000 Patients share one given name, written after the last ANALYZE: the planner believes
    // the value rare, and probed it through the value index, reading all 5,000 rows per candidate.
    const pool = t.server.app.repoContext.pool;
    await pool.query(
      `INSERT INTO sp_string (resource_type, id, code, value, raw)
       SELECT 'Patient', 'syn-' || i, 'given', 'common', 'Common' FROM generate_series(1, $1) i`,
      [ROWS],
    );
    const plan = await analyzedPlanOf('Patient?name=synthetic12&given=common', 21);
    const shape = plan.map((n) => `${n['Node Type']} ${n['Relation Name'] ?? ''} ${n['Index Name'] ?? ''}`).join(', ');
    expect(plan[0]['Actual Rows'], shape).toBe(21);
    // The lookup is by id alone; the value is checked on the rows it returns, so no estimate of the
    // value can turn the probe into a walk of the value index.
    const lookups = plan.filter((n) => n['Index Name'] === 'sp_string_id_code_idx');
    expect(lookups.length, shape).toBeGreaterThan(0);
    for (const lookup of lookups) {
      expect(`${lookup['Index Cond']} ${lookup.Filter ?? ''}`).not.toMatch(/value/);
    }
    // synthetic12, synthetic120…129, synthetic1200…1299: 111 candidates, one given-name row each.
    const stringRows = plan
      .filter((n) => n['Relation Name'] === 'sp_string')
      .reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'], 0);
    expect(stringRows, shape).toBeLessThanOrEqual(2 * 111 + 21);
  });

  test('searches that start from an identifier or a reference run generic plans on the search pool; others do not', async () => {
    const searchPool = createPool(t.server.databaseUrl, 1, { genericPlans: true });
    try {
      const repo = new PostgresRepository({ ...t.server.app.repoContext, searchPool });
      // A status, a category or a gender may select half of a type: only a plan made with the
      // value knows whether to start from it (driver.ts: isBounded).
      expect(buildSearchQuery(repo, parseSearchRequest('Patient?gender=female')).bounded).toBe(false);
      for (let i = 0; i < 3; i++) {
        const byIdentifier = await repo.search(parseSearchRequest('Patient?identifier=urn:mrn|MRN-12'));
        expect(byIdentifier.entry?.map((e) => e.resource?.id)).toEqual(['syn-12']);
        const byGender = await repo.search(parseSearchRequest('Patient?gender=female&_count=5'));
        expect(byGender.entry).toHaveLength(5);
      }
      // Left to choose (plan_cache_mode=auto), PostgreSQL plans the first five executions anew.
      const { rows } = await searchPool.query<{ generic_plans: number; custom_plans: number }>(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'search\\_%'",
      );
      expect(rows).toEqual([{ generic_plans: 3, custom_plans: 0 }]);
    } finally {
      await searchPool.end();
    }
  });

  test('the planned query answers correctly', async () => {
    const bundle = await t.medplum.search('Patient', 'identifier=urn:mrn|REAL-3');
    expect(bundle.entry?.map((e) => (e.resource as Patient).name?.[0]?.family)).toEqual(['Realname3']);
  });
});
