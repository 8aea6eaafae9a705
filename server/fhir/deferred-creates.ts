import type { WithId } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { buildIndexRows, INDEX_KINDS, INDEX_TABLES } from './indexer.ts';
import { type CreatedResource, NAMED_IN_NOTIFY_SQL, type NotifyMode } from './outbox-notify.ts';

/** A create decided inside a database transaction whose rows are not written yet. */
export interface DeferredCreate {
  resource: WithId<Resource>;
  /** The W3C traceparent of the request that made it, when tracing is on. */
  traceparent: string | null;
}

// Every index kind is always present (possibly with empty arrays), so the SQL text is fixed and
// runs as a prepared statement. Bind parameters: $1–$6 are the resource columns, then per kind
// resource_type[], id[] and the value columns.
const FIRST_INDEX_PARAM = 7;

function indexCtes(): string {
  let param = FIRST_INDEX_PARAM;
  return INDEX_KINDS.map((kind) => {
    const { table, columns, types } = INDEX_TABLES[kind];
    const casts = ['text', 'text', ...types].map((t) => `$${param++}::${t}[]`).join(', ');
    return `i_${kind} AS (INSERT INTO ${table} (resource_type, id, ${columns.join(', ')}) SELECT * FROM unnest(${casts}))`;
  }).join(',\n  ');
}

/**
 * All deferred creates of a transaction in one statement: current rows, history, search index,
 * subscription outbox (with its NOTIFY, delivered at commit: for every type, or with an outbox
 * wake-up only for the named ones, see OutboxWakeup) and trace context, exactly what the
 * single-resource INSERT of repo.ts writes per resource. No ON CONFLICT here: an id that already
 * exists fails the whole statement (unique violation → 409), and with it the transaction, so a
 * partly written batch can never be committed.
 */
const insertDeferredSql = (notify: NotifyMode): string => `WITH
  x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[])
    AS x(resource_type, id, version_id, last_updated, content, traceparent)),
  r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
    SELECT resource_type, id, version_id, last_updated, false, content FROM x),
  h AS (INSERT INTO resource_history (version_id, resource_type, id, last_updated, deleted, content)
    SELECT version_id, resource_type, id, last_updated, false, content FROM x),
  tc AS (INSERT INTO trace_context (version_id, traceparent) SELECT version_id, traceparent FROM x WHERE traceparent IS NOT NULL),
  o AS (INSERT INTO subscription_outbox (resource_type, id, version_id, previous_version_id, interaction)
    SELECT resource_type, id, version_id, NULL, 'create' FROM x WHERE resource_type <> 'AuditEvent'
    RETURNING ${
      notify === 'all'
        ? `pg_notify('subscription_outbox', CASE WHEN resource_type IN ${NAMED_IN_NOTIFY_SQL} THEN resource_type || '/' || id ELSE resource_type END)`
        : `CASE WHEN resource_type IN ${NAMED_IN_NOTIFY_SQL} THEN pg_notify('subscription_outbox', resource_type || '/' || id) END`
    }),
  g AS (UPDATE subscription_state SET generation = generation + 1 WHERE EXISTS (SELECT 1 FROM x WHERE resource_type = 'Subscription')),
  ${indexCtes()}
SELECT count(*) AS n FROM x`;

export const INSERT_DEFERRED_SQL = { all: insertDeferredSql('all'), named: insertDeferredSql('named') };

/** The bind parameters of INSERT_DEFERRED_SQL for a list of creates. */
export function deferredInsertParams(creates: DeferredCreate[]): unknown[] {
  const resourceColumns: unknown[][] = [[], [], [], [], [], []];
  const indexColumns = INDEX_KINDS.map((kind) => [[], [], ...INDEX_TABLES[kind].columns.map(() => [])] as unknown[][]);
  for (const { resource, traceparent } of creates) {
    const { resourceType, id } = resource;
    const row = [resourceType, id, resource.meta?.versionId, resource.meta?.lastUpdated, JSON.stringify(resource), traceparent];
    row.forEach((v, i) => {
      resourceColumns[i].push(v);
    });
    const rows = buildIndexRows(resource);
    INDEX_KINDS.forEach((kind, k) => {
      const lists = indexColumns[k];
      for (const indexRow of rows[kind] as unknown[][]) {
        lists[0].push(resourceType);
        lists[1].push(id);
        indexRow.forEach((v, i) => {
          lists[i + 2].push(v);
        });
      }
    });
  }
  return [...resourceColumns, ...indexColumns.flat()];
}

/**
 * The creates a transaction has decided but not yet written. They go to the database together,
 * in one statement, before anything else the transaction sends (so its reads see them) and
 * before it commits: a transaction Bundle of 100 creates costs one round trip instead of 100.
 */
export class DeferredCreates {
  private items: DeferredCreate[] = [];
  /** A failed write: the database transaction is aborted, so it may not be reported as committed. */
  private failure: unknown;
  /** Whether the transaction left subscription outbox rows (the workers are woken after its commit). */
  wroteOutbox = false;
  /** The resources the transaction created so far, told to the outbox wakeup once it commits. */
  created: CreatedResource[] = [];
  /**
   * Criteria locked when the transaction began (PostgresRepository.lockCriteriaFirst): held until it
   * ends, whatever savepoint rolls back, so its conditional entries need not lock them again.
   */
  readonly criteriaHeld = new Set<string>();

  add(create: DeferredCreate): void {
    this.items.push(create);
  }

  /** Whether a create of this resource type is pending. */
  hasType(resourceType: string): boolean {
    return this.items.some((c) => c.resource.resourceType === resourceType);
  }

  /** Takes the creates to write (the buffer is empty afterwards); throws an earlier write failure. */
  take(): DeferredCreate[] {
    if (this.failure !== undefined) {
      throw this.failure;
    }
    const items = this.items;
    this.items = [];
    return items;
  }

  failed(err: unknown): void {
    this.failure = err;
  }

  /**
   * After a rollback to a savepoint taken when the buffer was empty: nothing of it remains, and of
   * the created resources only the `keep` first (those created before the savepoint).
   */
  reset(keep: number = this.created.length): void {
    this.items = [];
    this.failure = undefined;
    this.created.length = Math.min(keep, this.created.length);
  }
}
