import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type pg from 'pg';
import { buildIndexRows } from './indexer.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Gives a new resource its id and first version. */
export function stampNew<T extends Resource>(resource: T): T & { id: string } {
  const id = resource.id ?? randomUUID();
  return { ...resource, id, meta: { ...resource.meta, versionId: randomUUID(), lastUpdated: new Date().toISOString() } } as T & {
    id: string;
  };
}

const SHAPES: [table: string, columns: string, types: string][] = [
  ['sp_token', 'code, system, value', 'text[], text[], text[]'],
  ['sp_string', 'code, value, raw', 'text[], text[], text[]'],
  ['sp_date', 'code, lo, hi', 'text[], timestamptz[], timestamptz[]'],
  ['sp_number', 'code, value', 'text[], numeric[]'],
  ['sp_quantity', 'code, value, system, unit, unit_code', 'text[], numeric[], text[], text[], text[]'],
  ['sp_reference', 'code, target_type, target_id, reference', 'text[], text[], text[], text[]'],
  ['sp_uri', 'code, value', 'text[], text[]'],
];

/**
 * Inserts many new resources (already stamped, already validated) with their history and
 * search index in one statement: used where the server itself writes in bulk (audit log).
 */
export async function bulkInsertNew(conn: Queryable, resources: (Resource & { id: string })[]): Promise<void> {
  if (resources.length === 0) {
    return;
  }
  const types: string[] = [];
  const ids: string[] = [];
  const versions: string[] = [];
  const updated: string[] = [];
  const contents: string[] = [];
  const index: unknown[][][] = SHAPES.map(([, columns]) => [[], [], ...columns.split(', ').map(() => [])]);
  for (const r of resources) {
    types.push(r.resourceType);
    ids.push(r.id);
    versions.push(r.meta?.versionId as string);
    updated.push(r.meta?.lastUpdated as string);
    contents.push(JSON.stringify(r));
    const rows = buildIndexRows(r);
    const lists = [rows.token, rows.string, rows.date, rows.number, rows.quantity, rows.reference, rows.uri] as unknown[][][];
    lists.forEach((list, t) => {
      for (const row of list) {
        index[t][0].push(r.resourceType);
        index[t][1].push(r.id);
        row.forEach((v, i) => {
          index[t][i + 2].push(v);
        });
      }
    });
  }
  const params: unknown[] = [types, ids, versions, updated, contents];
  const ctes = SHAPES.map(([table, columns, typeList], t) => {
    const start = params.length + 1;
    params.push(...index[t]);
    const casts = ['text[]', 'text[]', ...typeList.split(', ')].map((ty, i) => `$${start + i}::${ty}`).join(', ');
    return `i_${table} AS (INSERT INTO ${table} (resource_type, id, ${columns}) SELECT * FROM unnest(${casts}))`;
  });
  await conn.query(
    `WITH
      r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
        SELECT t, i, v::uuid, u::timestamptz, false, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(t, i, v, u, c)),
      h AS (INSERT INTO resource_history (version_id, resource_type, id, last_updated, deleted, content)
        SELECT v::uuid, t, i, u::timestamptz, false, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(t, i, v, u, c)),
      ${ctes.join(',\n      ')}
    SELECT 1`,
    params,
  );
}
