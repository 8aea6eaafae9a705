import {
  evalFhirPathTyped,
  type FhirPathAtom,
  type Filter,
  getSearchParameterDetails,
  getSearchParameters,
  normalizeErrorString,
  Operator,
  toTypedValue,
} from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { Logger } from 'pino';
import { buildIndexRows, NON_INDEXED_PARAMS, referenceIndexRows, tokenIndexRows } from '../fhir/indexer.ts';
import type { PostgresRepository } from '../fhir/repo.ts';
import { SqlParams, splitSearchValues } from '../fhir/search/conditions.ts';
import { criteriaCondition } from '../fhir/search/policy.ts';
import type { ActiveSubscription } from './subscription.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * Search criteria are evaluated by the same SQL that search uses (server/fhir/search), so a
 * Subscription matches exactly what `GET {criteria}` would return, for every parameter type
 * (number and quantity included). The condition is evaluated for the version being delivered:
 * - usually that version is still the current one, and its index rows are in the sp_* tables;
 * - otherwise (the resource changed again, or was deleted) the version's index rows are built
 *   with buildIndexRows into temporary tables that shadow sp_* within one rolled-back transaction.
 */
export async function matchFilters(
  repo: PostgresRepository,
  conn: Queryable,
  pool: pg.Pool,
  subs: ActiveSubscription[],
  subject: Resource & { id: string; meta?: { versionId?: string } },
  logger: Logger,
): Promise<boolean[]> {
  return (await matchFiltersBatch(repo, conn, pool, subs, [subject], logger))[0];
}

/**
 * matchFilters for many versions of one resource type at once: one query answers every version
 * that is still current (the usual case), so a dispatch batch costs one round trip per type.
 * Returns, per subject, one boolean per subscription.
 */
export async function matchFiltersBatch(
  repo: PostgresRepository,
  conn: Queryable,
  pool: pg.Pool,
  subs: ActiveSubscription[],
  subjects: (Resource & { id: string; meta?: { versionId?: string } })[],
  logger: Logger,
): Promise<boolean[][]> {
  const results = subjects.map(() => subs.map((s) => s.filters.length === 0));
  const filtered = subs.map((s, i) => ({ s, i })).filter(({ s }) => s.filters.length > 0);
  if (filtered.length === 0 || subjects.length === 0) return results;
  const resourceType = subjects[0].resourceType;
  const build = (idExpr: string, params: SqlParams) =>
    filtered.map(({ s }) => {
      try {
        return criteriaCondition(repo, params, resourceType, [s.filters], idExpr);
      } catch (err) {
        logger.warn({ subscription: s.id, err: normalizeErrorString(err) }, 'subscription criteria cannot be evaluated');
        return 'FALSE';
      }
    });
  // Fast path: versions that are still current are matched on the live index tables.
  const params = new SqlParams();
  const t = params.add(resourceType);
  const ids = params.add(subjects.map((x) => x.id));
  const versions = params.add(subjects.map((x) => x.meta?.versionId ?? '00000000-0000-0000-0000-000000000000'));
  const conds = build('r.id', params);
  const { rows } = await conn.query<{ n: number; current: boolean; m: boolean[] }>(
    `SELECT x.n::int AS n, (r.version_id = x.v AND NOT r.deleted) AS current, ARRAY[${conds.join(', ')}]::boolean[] AS m
     FROM unnest(${ids}::text[], ${versions}::uuid[]) WITH ORDINALITY AS x(id, v, n)
     JOIN resource r ON r.resource_type = ${t} AND r.id = x.id`,
    params.values,
  );
  const answered = new Map<number, boolean[]>();
  for (const row of rows) if (row.current) answered.set(row.n - 1, row.m);
  for (let k = 0; k < subjects.length; k++) {
    const m = answered.get(k) ?? (await matchVersionInTempTables(pool, subjects[k], build));
    filtered.forEach(({ i }, j) => {
      results[k][i] = m[j] === true;
    });
  }
  return results;
}

const TABLES: [name: keyof ReturnType<typeof buildIndexRows>, table: string, columns: string, types: string[]][] = [
  ['token', 'sp_token', 'code, system, value', ['text[]', 'text[]', 'text[]']],
  ['string', 'sp_string', 'code, value, raw', ['text[]', 'text[]', 'text[]']],
  ['date', 'sp_date', 'code, lo, hi', ['text[]', 'timestamptz[]', 'timestamptz[]']],
  ['number', 'sp_number', 'code, value', ['text[]', 'numeric[]']],
  ['quantity', 'sp_quantity', 'code, value, system, unit, unit_code', ['text[]', 'numeric[]', 'text[]', 'text[]', 'text[]']],
  ['reference', 'sp_reference', 'code, target_type, target_id, reference', ['text[]', 'text[]', 'text[]', 'text[]']],
  ['uri', 'sp_uri', 'code, value', ['text[]', 'text[]']],
];

async function matchVersionInTempTables(
  pool: pg.Pool,
  subject: Resource & { id: string },
  build: (idExpr: string, params: SqlParams) => string[],
): Promise<boolean[]> {
  const rows = buildIndexRows(subject);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Unqualified sp_* names resolve to pg_temp first: the search SQL now sees only this version.
    await client.query(TABLES.map(([, table]) => `CREATE TEMP TABLE ${table} (LIKE public.${table}) ON COMMIT DROP;`).join('\n'));
    for (const [key, table, columns, types] of TABLES) {
      const list = rows[key] as unknown[][];
      if (list.length === 0) continue;
      const cols = types.map((_, i) => list.map((r) => r[i]));
      await client.query(
        `INSERT INTO ${table} (resource_type, id, ${columns}) SELECT $1, $2, * FROM unnest(${types.map((ty, i) => `$${i + 3}::${ty}`).join(', ')})`,
        [subject.resourceType, subject.id, ...cols],
      );
    }
    const params = new SqlParams();
    const id = params.add(subject.id);
    const conds = build(`${id}::text`, params);
    const { rows: out } = await client.query<{ m: boolean[] }>(`SELECT ARRAY[${conds.join(', ')}]::boolean[] AS m`, params.values);
    return out[0].m;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/**
 * Medplum's FHIRPath criteria: true only when the expression yields `true`. Subscriptions pass the
 * expression parsed once (parseSubscription): parsing is most of the cost for a short resource.
 */
export function matchesFhirPath(expression: string | FhirPathAtom, current: Resource, previous: Resource | undefined): boolean {
  const value = evalFhirPathTyped(expression, [toTypedValue(current)], {
    '%current': toTypedValue(current),
    '%previous': toTypedValue(previous ?? {}),
  });
  return value?.[0]?.value === true;
}

/** One token criterion compiled for matching in memory: any of `ors` (or none of them, for :not). */
interface TokenTest {
  kind: 'token';
  sp: SearchParameter;
  not: boolean;
  ors: { system?: string | null; value?: string }[];
}

/**
 * One reference criterion compiled for matching in memory: a local `Type/id`, or a bare id (of
 * the parameter's only target type, when it has one), as referenceValueCondition in
 * server/fhir/search/conditions.ts compares them with the sp_reference rows.
 */
interface ReferenceTest {
  kind: 'reference';
  sp: SearchParameter;
  not: boolean;
  ors: { type?: string; id: string }[];
}

/** A subscription's criteria as in-memory tests; undefined when some criterion needs SQL. */
export type MemoryCriteria = (TokenTest | ReferenceTest)[];

const LOCAL_REFERENCE_RE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** A reference criterion's values as in-memory tests; undefined for any other form (absolute URLs, canonicals): SQL. */
function referenceOrs(sp: SearchParameter, values: string[]): ReferenceTest['ors'] | undefined {
  const ors: ReferenceTest['ors'] = [];
  for (const v of values) {
    const local = LOCAL_REFERENCE_RE.exec(v);
    if (local) {
      ors.push({ type: local[1], id: local[2] });
    } else if (ID_RE.test(v)) {
      ors.push(sp.target?.length === 1 ? { type: sp.target[0], id: v } : { id: v });
    } else {
      return undefined;
    }
  }
  return ors;
}

/**
 * Compiles criteria that are only token equality tests (`code=`, `status:not=`, `_tag=system|x`,
 * `class=EMER,IMP`...) and local reference tests (`recipient=Practitioner/1`, `subject:not=...`)
 * — most bot subscriptions, and the app's websocket ones — so they are matched in memory,
 * against the same token and reference rows buildIndexRows writes to sp_token and sp_reference,
 * with the same rules as tokenCondition and referenceCondition in server/fhir/search/conditions.ts.
 * Anything else (other types, modifiers, chains, ContactPoint tokens, which search folds to lower
 * case, absolute or canonical references) returns undefined and is matched by SQL.
 */
export function compileMemoryCriteria(resourceType: string, filters: Filter[]): MemoryCriteria | undefined {
  const tests: MemoryCriteria = [];
  for (const f of filters) {
    const sp = getSearchParameters(resourceType)?.[f.code];
    if (!sp?.expression || NON_INDEXED_PARAMS.has(f.code)) return undefined;
    if (sp.type === 'reference') {
      if (f.operator !== Operator.EQUALS && f.operator !== Operator.NOT) return undefined;
      const values = splitSearchValues(f.value);
      const ors = values.length > 0 ? referenceOrs(sp, values) : undefined;
      if (!ors) return undefined;
      tests.push({ kind: 'reference', sp, not: f.operator === Operator.NOT, ors });
      continue;
    }
    if (f.operator !== Operator.EQUALS && f.operator !== Operator.NOT && f.operator !== Operator.EXACT) return undefined;
    if (sp.type !== 'token') return undefined;
    try {
      if (getSearchParameterDetails(resourceType, sp).elementDefinitions?.some((ed) => ed.type?.some((t) => t.code === 'ContactPoint'))) {
        return undefined;
      }
    } catch {
      return undefined;
    }
    const values = splitSearchValues(f.value);
    if (values.length === 0 || values.some((v) => v === '')) return undefined;
    tests.push({
      kind: 'token',
      sp,
      not: f.operator === Operator.NOT,
      ors: values.map((v) => {
        const bar = v.indexOf('|');
        if (bar < 0) return { value: v };
        const system = v.slice(0, bar);
        const value = v.slice(bar + 1);
        return { system: system || null, ...(value ? { value } : {}) };
      }),
    });
  }
  return tests;
}

/**
 * Whether a resource version meets compiled criteria; `rows` caches index rows per parameter
 * (token rows: system, value; reference rows: target type, target id).
 */
export function matchesInMemory(
  criteria: MemoryCriteria,
  subject: Resource,
  rows: Map<SearchParameter, [string | null, string | null][]> = new Map(),
): boolean {
  for (const test of criteria) {
    let indexed = rows.get(test.sp);
    if (!indexed) {
      indexed = test.kind === 'token' ? tokenIndexRows(subject, test.sp) : referenceIndexRows(subject, test.sp);
      rows.set(test.sp, indexed);
    }
    const hit =
      test.kind === 'token'
        ? indexed.some(([system, value]) =>
            test.ors.some((o) => (o.system === undefined || o.system === system) && (o.value === undefined || o.value === value)),
          )
        : indexed.some(([type, id]) => test.ors.some((o) => o.id === id && (o.type === undefined || o.type === type)));
    if (hit === test.not) return false;
  }
  return true;
}
