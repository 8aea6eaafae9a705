import type pg from 'pg';
import { DELIVERY_CHANNEL } from './engine.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface DeadLetter {
  id: string;
  subscription: string;
  resource: string;
  versionId: string;
  interaction: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deadAt: string;
}

/** Exhausted deliveries, newest first. */
export async function listDeadLetters(conn: Queryable, limit = 100, offset = 0): Promise<DeadLetter[]> {
  const { rows } = await conn.query<{
    delivery_id: string;
    subscription_id: string;
    resource_type: string;
    id: string;
    version_id: string;
    interaction: string;
    attempts: number;
    last_status: number | null;
    last_error: string | null;
    created_at: Date;
    updated_at: Date;
  }>(
    `SELECT delivery_id::text, subscription_id, resource_type, id, version_id, interaction, attempts, last_status, last_error, created_at, updated_at
     FROM subscription_delivery WHERE status = 'dead' ORDER BY updated_at DESC, delivery_id DESC LIMIT $1 OFFSET $2`,
    [limit, offset],
  );
  return rows.map((r) => ({
    id: r.delivery_id,
    subscription: `Subscription/${r.subscription_id}`,
    resource: `${r.resource_type}/${r.id}`,
    versionId: r.version_id,
    interaction: r.interaction,
    attempts: r.attempts,
    lastStatus: r.last_status,
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
    deadAt: r.updated_at.toISOString(),
  }));
}

/**
 * Puts dead letters back in the queue with a fresh attempt budget (all of them when `id` is
 * undefined); returns how many. The workers are woken at once.
 */
export async function replayDeadLetters(conn: Queryable, id?: string): Promise<number> {
  if (id !== undefined && !/^\d{1,18}$/.test(id)) return 0;
  const { rowCount } = await conn.query(
    `UPDATE subscription_delivery SET status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(),
       lease_owner = NULL, lease_until = NULL, updated_at = clock_timestamp()
     WHERE status = 'dead' ${id !== undefined ? 'AND delivery_id = $1::bigint' : ''}`,
    id !== undefined ? [id] : [],
  );
  if (rowCount) await conn.query(`SELECT pg_notify('${DELIVERY_CHANNEL}', 'replay')`);
  return rowCount ?? 0;
}
