import type { AuditEvent } from '@medplum/fhirtypes';
import type pg from 'pg';
import {
  buildIndexRows,
  bulkIndexInserts,
  clampBytes,
  INDEX_TABLES,
  type IndexRows,
  normalizeString,
  searchParameterFingerprint,
} from '../fhir/indexer.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * The search parameters of AuditEvent that have columns in `audit_event_index` (migration 0014),
 * by kind of index row. These are all the rows the server's own events (REST, login, export, bot
 * executions) produce; an event with any other row, or two rows of one parameter, is indexed the
 * generic way (sp_* tables) instead, so every event stays searchable by every parameter.
 */
export const AUDIT_INDEX_PARAMS = {
  token: ['action', 'altid', 'entity-role', 'entity-type', 'outcome', 'subtype', 'type'],
  string: ['address', 'agent-name', 'entity-role:text', 'entity-type:text', 'subtype:text', 'type:text'],
  date: ['date'],
  reference: ['agent', 'entity', 'patient'],
} as const satisfies Partial<Record<keyof IndexRows, readonly string[]>>;

export type CompactKind = keyof typeof AUDIT_INDEX_PARAMS;
export const COMPACT_KINDS = Object.keys(AUDIT_INDEX_PARAMS) as CompactKind[];

/** The value columns of a kind (those of its sp_* table after `code`). */
function valueColumns(kind: CompactKind): string[] {
  return INDEX_TABLES[kind].columns.slice(1);
}

/** Column of `audit_event_index` holding `column` (e.g. value) of parameter `code`: entity-role:text → entity_role_text_value. */
export function compactColumn(code: string, column: string): string {
  return `${code.replace(/[-:]/g, '_')}_${column}`;
}

/** Every compact column in table order, with its SQL type. */
export const COMPACT_COLUMNS: { kind: CompactKind; code: string; name: string; type: string }[] = COMPACT_KINDS.flatMap((kind) =>
  AUDIT_INDEX_PARAMS[kind].flatMap((code) =>
    valueColumns(kind).map((column, i) => ({ kind, code, name: compactColumn(code, column), type: INDEX_TABLES[kind].types[i + 1] })),
  ),
);

/** Where the columns of each kind and parameter start in COMPACT_COLUMNS. */
const POSITION = new Map<string, number>();
COMPACT_COLUMNS.forEach((c, i) => {
  const key = `${c.kind}\u0000${c.code}`;
  if (!POSITION.has(key)) POSITION.set(key, i);
});

/**
 * The compact row of an event's index rows (values in COMPACT_COLUMNS order), or undefined when
 * they do not fit: a row of a parameter or kind without columns, or a second row of one parameter.
 */
export function compactRow(rows: IndexRows): unknown[] | undefined {
  const values: unknown[] = new Array(COMPACT_COLUMNS.length).fill(null);
  const taken = new Set<number>();
  for (const kind of Object.keys(rows) as (keyof IndexRows)[]) {
    for (const row of rows[kind] as unknown[][]) {
      const start = POSITION.get(`${kind}\u0000${row[0]}`);
      if (start === undefined || taken.has(start)) {
        return undefined;
      }
      // A token row with neither system nor value could not be told apart from no row.
      if (row.slice(1).every((v) => v === null)) {
        return undefined;
      }
      taken.add(start);
      for (let i = 1; i < row.length; i++) {
        values[start + i - 1] = row[i];
      }
    }
  }
  return values;
}

const COMPACT_INSERT_SQL = (firstParam: number): string => {
  const casts = [`$${firstParam}::text[]`, ...COMPACT_COLUMNS.map((c, i) => `$${firstParam + 1 + i}::${c.type}[]`)];
  return `INSERT INTO audit_event_index (id, ${COMPACT_COLUMNS.map((c) => c.name).join(', ')}) SELECT * FROM unnest(${casts.join(', ')})`;
};

/**
 * Stores new AuditEvents (stamped, never changed afterwards) in one statement: the resource row,
 * and one `audit_event_index` row per event instead of ~15 rows across the sp_* tables with their
 * indexes. No history row: an AuditEvent has exactly one version, and its history and vread are
 * answered from the resource row (repo.ts). `texts` are the events' JSON as recorded.
 */
export async function insertAuditEvents(conn: Queryable, events: (AuditEvent & { id: string })[], texts: string[]): Promise<void> {
  if (events.length === 0) {
    return;
  }
  const compactIds: string[] = [];
  const compactValues: unknown[][] = COMPACT_COLUMNS.map(() => []);
  const generic: { resourceType: string; id: string; rows: IndexRows }[] = [];
  const direct = directRowsTrusted();
  for (const event of events) {
    const fast = direct ? directCompactRow(event) : undefined;
    const rows = fast ? undefined : buildIndexRows(event);
    const row = fast ?? compactRow(rows as IndexRows);
    if (row) {
      compactIds.push(event.id);
      for (let i = 0; i < row.length; i++) compactValues[i].push(row[i]);
    } else {
      generic.push({ resourceType: 'AuditEvent', id: event.id, rows: rows as IndexRows });
    }
  }
  const params: unknown[] = [
    events.map((e) => e.id),
    events.map((e) => e.meta?.versionId as string),
    events.map((e) => e.meta?.lastUpdated as string),
    texts,
  ];
  const ctes = [
    `r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
      SELECT 'AuditEvent', i, v::uuid, u::timestamptz, false, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(i, v, u, c))`,
  ];
  if (compactIds.length > 0) {
    ctes.push(`a AS (${COMPACT_INSERT_SQL(params.length + 1)})`);
    params.push(compactIds, ...compactValues);
  }
  const index = bulkIndexInserts(generic, params.length);
  ctes.push(...index.statements.map((sql, i) => `i_${i} AS (${sql})`));
  params.push(...index.params);
  await conn.query(`WITH ${ctes.join(',\n')} SELECT 1`, params);
}

/**
 * What to read the `table` (sp_*) rows of `resourceType` from: for AuditEvent, the view that adds
 * the compact rows to the sp_* rows (0014) where the kind has columns; otherwise the table itself.
 */
export function indexSource(table: string, resourceType: string): string {
  return resourceType === 'AuditEvent' ? (AUDIT_VIEWS.get(table) ?? table) : table;
}

const PRESENT: Record<Exclude<CompactKind, 'token'>, string> = { string: 'value', date: 'lo', reference: 'reference' };

const AUDIT_VIEWS = new Map(COMPACT_KINDS.map((kind) => [INDEX_TABLES[kind].table, `audit_${INDEX_TABLES[kind].table}`]));

/**
 * The CREATE VIEW statements of migration 0014, generated from AUDIT_INDEX_PARAMS (the migration
 * test checks the file says exactly this): per kind, the sp_* rows of AuditEvents (events indexed
 * the generic way) and one branch per parameter with columns, shaped like sp_* rows.
 */
export function auditViewsSql(): string {
  return COMPACT_KINDS.map((kind) => {
    const { table, columns } = INDEX_TABLES[kind];
    const value = valueColumns(kind);
    const branches = [`SELECT resource_type, id, ${columns.join(', ')} FROM ${table} WHERE resource_type = 'AuditEvent'`];
    for (const code of AUDIT_INDEX_PARAMS[kind]) {
      const cols = value.map((c) => compactColumn(code, c));
      // A row is there when its never-null column is set (a token needs a system or a value).
      const present =
        kind === 'token' ? `(${cols.map((c) => `${c} IS NOT NULL`).join(' OR ')})` : `${compactColumn(code, PRESENT[kind])} IS NOT NULL`;
      branches.push(`SELECT 'AuditEvent'::text, id, '${code}'::text, ${cols.join(', ')} FROM audit_event_index WHERE ${present}`);
    }
    return `CREATE VIEW audit_${table} (resource_type, id, ${columns.join(', ')}) AS\n  ${branches.join('\n  UNION ALL ')};`;
  }).join('\n\n');
}

/**
 * AuditEvent's search parameters as the direct column computation below was written for (the
 * fingerprint of searchParameterFingerprint): with other or custom parameters, events are indexed
 * through buildIndexRows. A test keeps this equal to the base definitions' fingerprint.
 */
export const DIRECT_FINGERPRINT = 'c8cc40f45dde4488301f2c91c3ffbd83';

const LOCAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const INSTANT_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(v: Json, allowed: readonly string[]): boolean {
  for (const k in v) {
    if (!allowed.includes(k)) return false;
  }
  return true;
}

/** A non-empty string without surrounding spaces (whose token is the string itself). */
function trimmed(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v.trim() === v;
}

function optionalString(v: unknown): v is string | undefined {
  return v === undefined || (typeof v === 'string' && v !== '');
}

/**
 * The compact row of an event of the shapes the server writes (REST, sign-in: events.ts), computed
 * from its fields instead of evaluating every search parameter's FHIRPath (buildIndexRows, ~0.1 ms
 * of the ~0.3 ms of server CPU an event cost to index). Exactly what compactRow(buildIndexRows(e))
 * gives (event-index.test.ts compares them over many events); undefined for any other shape
 * (an unknown field, two agents, a second patient...), which then takes the general path.
 */
export function directCompactRow(event: AuditEvent): unknown[] | undefined {
  const e = event as unknown as Json;
  if (
    !onlyKeys(e, [
      'resourceType',
      'id',
      'meta',
      'type',
      'subtype',
      'action',
      'recorded',
      'outcome',
      'outcomeDesc',
      'agent',
      'source',
      'entity',
    ])
  ) {
    return undefined;
  }
  if (e.meta !== undefined && !(isObject(e.meta) && onlyKeys(e.meta, ['versionId', 'lastUpdated']))) {
    return undefined;
  }
  const values: unknown[] = new Array(COMPACT_COLUMNS.length).fill(null);
  const set = (kind: CompactKind, code: string, row: unknown[]): boolean => {
    const start = POSITION.get(`${kind}\u0000${code}`) as number;
    if (values[start] !== null || values[start + 1] !== null) {
      // A second value of one parameter: the same row again is no row (buildIndexRows dedupes it).
      return row.every((v, i) => values[start + i] === v);
    }
    row.forEach((v, i) => {
      values[start + i] = v;
    });
    return true;
  };
  const text = (code: string, raw: string) => set('string', code, [clampBytes(normalizeString(raw)), raw]);
  // A Coding as a token (system|code) and its display as `code:text`.
  const coding = (code: string, c: unknown): boolean => {
    if (!isObject(c) || !onlyKeys(c, ['system', 'code', 'display'])) return false;
    if (!trimmed(c.system) || !trimmed(c.code) || !optionalString(c.display)) {
      return false;
    }
    if (!set('token', code, [clampBytes(c.system), clampBytes(c.code)])) return false;
    return c.display === undefined || (normalizeString(c.display) !== '' && text(`${code}:text`, c.display));
  };
  const plainCode = (code: string, v: unknown): boolean => v === undefined || (trimmed(v) && set('token', code, [null, clampBytes(v)]));
  const reference = (code: string, ref: unknown): boolean => {
    if (!isObject(ref) || !onlyKeys(ref, ['reference', 'display']) || !optionalString(ref.display)) return false;
    if (ref.reference === undefined) return true;
    const m = typeof ref.reference === 'string' ? LOCAL_REFERENCE.exec(ref.reference) : null;
    if (!m) return false;
    const row = [m[1], m[2], ref.reference];
    return set('reference', code, row) && (m[1] !== 'Patient' || set('reference', 'patient', row));
  };

  // An instant to the millisecond covers [it, it + 1 ms); anything else (a year 0, an invalid date) takes the general path.
  if (typeof e.recorded !== 'string' || !INSTANT_MS.test(e.recorded) || e.recorded.startsWith('0000')) return undefined;
  const at = Date.parse(e.recorded);
  if (Number.isNaN(at) || new Date(at).toISOString() !== e.recorded || e.recorded >= '9999-12-31T23:59:59.999Z') return undefined;
  const hi = new Date(at + 1).toISOString();
  set('date', 'date', [e.recorded, hi]);
  if (!coding('type', e.type)) return undefined;
  if (e.subtype !== undefined && !(Array.isArray(e.subtype) && e.subtype.length <= 1 && e.subtype.every((c) => coding('subtype', c)))) {
    return undefined;
  }
  if (!plainCode('action', e.action) || !plainCode('outcome', e.outcome) || !optionalString(e.outcomeDesc)) return undefined;
  // The server's observer: a display only, which no parameter indexes (source is observer.reference).
  if (e.source !== undefined) {
    if (!isObject(e.source) || !onlyKeys(e.source, ['observer', 'type'])) return undefined;
    if (e.source.observer !== undefined && !(isObject(e.source.observer) && onlyKeys(e.source.observer, ['display']))) return undefined;
  }
  const agents = e.agent ?? [];
  if (!Array.isArray(agents) || agents.length > 1) return undefined;
  for (const a of agents) {
    if (!isObject(a) || !onlyKeys(a, ['type', 'who', 'altId', 'requestor', 'network', 'name'])) return undefined;
    if (a.who !== undefined && !reference('agent', a.who)) return undefined;
    if (!plainCode('altid', a.altId)) return undefined;
    if (a.name !== undefined && !(typeof a.name === 'string' && normalizeString(a.name) !== '' && text('agent-name', a.name)))
      return undefined;
    if (a.network !== undefined) {
      const n = a.network;
      if (!isObject(n) || !onlyKeys(n, ['address', 'type'])) return undefined;
      if (n.address !== undefined && !(typeof n.address === 'string' && normalizeString(n.address) !== '' && text('address', n.address))) {
        return undefined;
      }
    }
  }
  const entities = e.entity ?? [];
  if (!Array.isArray(entities)) return undefined;
  for (const x of entities) {
    if (!isObject(x) || !onlyKeys(x, ['what', 'type', 'role', 'query'])) return undefined;
    if (x.what !== undefined && !reference('entity', x.what)) return undefined;
    if (x.type !== undefined && !coding('entity-type', x.type)) return undefined;
    if (x.role !== undefined && !coding('entity-role', x.role)) return undefined;
  }
  return values;
}

/** Whether rows from directCompactRow are right for AuditEvent's current search parameters. */
export function directRowsTrusted(): boolean {
  return searchParameterFingerprint('AuditEvent') === DIRECT_FINGERPRINT;
}

/**
 * The compact index row of a stamped event as a JSON object keyed by column (null values left
 * out), for json_populate_record when the event is indexed; null when directCompactRow declines.
 */
export function compactRowJson(event: AuditEvent & { id: string }): string | null {
  const row = directCompactRow(event);
  if (!row) {
    return null;
  }
  const out: Record<string, unknown> = { id: event.id };
  for (let i = 0; i < row.length; i++) {
    if (row[i] !== null) out[COMPACT_COLUMNS[i].name] = row[i];
  }
  return JSON.stringify(out);
}
