import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type pg from 'pg';
import { buildIndexRows, bulkIndexInserts } from './indexer.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Gives a new resource its id and first version. */
export function stampNew<T extends Resource>(resource: T): T & { id: string } {
  const id = resource.id ?? randomUUID();
  return { ...resource, id, meta: { ...resource.meta, versionId: randomUUID(), lastUpdated: new Date().toISOString() } } as T & {
    id: string;
  };
}

/**
 * Inserts many new resources (already stamped, already validated) with their history and
 * search index in one statement: used where the server itself writes in bulk (audit log).
 * `texts`, when given, are the resources' JSON as already serialised (the audit log keeps it), so
 * it is not serialised again.
 */
export async function bulkInsertNew(conn: Queryable, resources: (Resource & { id: string })[], texts?: string[]): Promise<void> {
  if (resources.length === 0) {
    return;
  }
  const types = resources.map((r) => r.resourceType);
  const ids = resources.map((r) => r.id);
  const versions = resources.map((r) => r.meta?.versionId as string);
  const updated = resources.map((r) => r.meta?.lastUpdated as string);
  const contents = texts ?? resources.map((r) => JSON.stringify(r));
  const index = bulkIndexInserts(
    resources.map((r) => ({ resourceType: r.resourceType, id: r.id, rows: buildIndexRows(r) })),
    5,
  );
  const params: unknown[] = [types, ids, versions, updated, contents, ...index.params];
  const ctes = [
    `r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
      SELECT t, i, v::uuid, u::timestamptz, false, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(t, i, v, u, c))`,
    `h AS (INSERT INTO resource_history (version_id, resource_type, id, last_updated, deleted, content)
      SELECT v::uuid, t, i, u::timestamptz, false, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(t, i, v, u, c))`,
    ...index.statements.map((sql, i) => `i_${i} AS (${sql})`),
  ];
  await conn.query(`WITH ${ctes.join(',\n')} SELECT 1`, params);
}
