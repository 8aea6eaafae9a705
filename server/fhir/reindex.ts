import { globalSchema } from '@medplum/core';
import type pg from 'pg';
import type { Logger } from 'pino';
import { isKnownResourceType } from './definitions.ts';
import { buildIndexRows, bulkIndexInserts, INDEX_KINDS, INDEX_TABLES, searchParameterFingerprint } from './indexer.ts';

const REINDEX_LOCK = 727_001;
const BATCH = 500;

const DEADLOCK = '40P01';
const BATCH_ATTEMPTS = 3;

/**
 * Rebuilds the index rows of a batch of resources in one transaction. The rows are locked while
 * read, so a concurrent update (another instance keeps serving during a rolling start) waits and
 * then replaces our rows with its own, instead of our stale content overwriting its index.
 */
async function reindexBatch(client: pg.PoolClient, resourceType: string, ids: string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ id: string; content: string }>(
      'SELECT id, content FROM resource WHERE resource_type = $1 AND id = ANY($2::text[]) AND NOT deleted ORDER BY id FOR UPDATE',
      [resourceType, ids],
    );
    const live = rows.map((r) => r.id);
    for (const kind of INDEX_KINDS) {
      await client.query(`DELETE FROM ${INDEX_TABLES[kind].table} WHERE resource_type = $1 AND id = ANY($2::text[])`, [resourceType, live]);
    }
    if (resourceType === 'AuditEvent') {
      // Rebuilt below as generic rows, with the new parameter set (server/audit/event-index.ts).
      await client.query('DELETE FROM audit_event_index WHERE id = ANY($1::text[])', [live]);
    }
    const inserts = bulkIndexInserts(
      rows.map((r) => ({ resourceType, id: r.id, rows: buildIndexRows(JSON.parse(r.content)) })),
      0,
    );
    if (inserts.statements.length > 0) {
      const ctes = inserts.statements.map((sql, i) => `i_${i} AS (${sql})`);
      await client.query(`WITH ${ctes.join(', ')} SELECT 1`, inserts.params);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** Rebuilds the search index rows of every live resource of one type. */
export async function reindexType(pool: pg.Pool, resourceType: string, logger?: Logger): Promise<number> {
  let done = 0;
  let lastId = '';
  for (;;) {
    const { rows } = await pool.query<{ id: string }>(
      'SELECT id FROM resource WHERE resource_type = $1 AND NOT deleted AND id > $2 ORDER BY id LIMIT $3',
      [resourceType, lastId, BATCH],
    );
    if (rows.length === 0) {
      break;
    }
    const ids = rows.map((r) => r.id);
    const client = await pool.connect();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await reindexBatch(client, resourceType, ids);
          break;
        } catch (err) {
          // Locking a batch can deadlock with a writer that locks rows in another order: retry.
          if ((err as { code?: string }).code !== DEADLOCK || attempt >= BATCH_ATTEMPTS) {
            throw err;
          }
        }
      }
    } finally {
      client.release();
    }
    done += rows.length;
    lastId = ids[ids.length - 1];
  }
  logger?.info({ resourceType, resources: done }, 'reindexed');
  return done;
}

/**
 * Brings the search index in line with the loaded SearchParameters: a type whose parameter set
 * changed (a custom SearchParameter added in fhir-profiles/, say) is reindexed once, by whichever
 * instance takes the lock first.
 */
export async function reindexChangedTypes(pool: pg.Pool, logger?: Logger): Promise<string[]> {
  const client = await pool.connect();
  const changed: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [REINDEX_LOCK]);
    const { rows } = await client.query<{ resource_type: string; fingerprint: string }>(
      'SELECT resource_type, fingerprint FROM search_index_state',
    );
    const known = new Map(rows.map((r) => [r.resource_type, r.fingerprint]));
    const stale: [type: string, fingerprint: string][] = [];
    for (const type of Object.keys(globalSchema.types)) {
      if (!isKnownResourceType(type)) continue;
      const fp = searchParameterFingerprint(type);
      if (known.get(type) !== fp) stale.push([type, fp]);
    }
    for (const [type] of stale) {
      // A type first seen has no rows yet (a new database): nothing to rebuild.
      if (known.has(type)) {
        await reindexType(pool, type, logger);
        changed.push(type);
      }
    }
    if (stale.length > 0) {
      // One statement for all types: on a new database that is every type there is.
      await client.query(
        `INSERT INTO search_index_state (resource_type, fingerprint)
         SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (resource_type) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, updated_at = now()`,
        [stale.map((s) => s[0]), stale.map((s) => s[1])],
      );
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [REINDEX_LOCK]).catch(() => undefined);
    client.release();
  }
  return changed;
}
