import type { AuditEvent } from '@medplum/fhirtypes';
import type pg from 'pg';
import { buildIndexRows, bulkIndexInserts, INDEX_TABLES, type IndexRows } from '../fhir/indexer.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * The search parameters of AuditEvent that have columns in `audit_event_index` (migration 0017),
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
  for (const event of events) {
    const rows = buildIndexRows(event);
    const row = compactRow(rows);
    if (row) {
      compactIds.push(event.id);
      for (let i = 0; i < row.length; i++) compactValues[i].push(row[i]);
    } else {
      generic.push({ resourceType: 'AuditEvent', id: event.id, rows });
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
 * the compact rows to the sp_* rows (0017) where the kind has columns; otherwise the table itself.
 */
export function indexSource(table: string, resourceType: string): string {
  return resourceType === 'AuditEvent' ? (AUDIT_VIEWS.get(table) ?? table) : table;
}

const PRESENT: Record<Exclude<CompactKind, 'token'>, string> = { string: 'value', date: 'lo', reference: 'reference' };

const AUDIT_VIEWS = new Map(COMPACT_KINDS.map((kind) => [INDEX_TABLES[kind].table, `audit_${INDEX_TABLES[kind].table}`]));

/**
 * The CREATE VIEW statements of migration 0017, generated from AUDIT_INDEX_PARAMS (the migration
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
