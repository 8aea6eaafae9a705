import type pg from 'pg';
import { queuePlan } from './message-store.ts';

export interface OutboundMessage {
  destination: string;
  dedupeKey: string;
  lane: string;
  messageType: string;
  controlId: string;
  body: string;
}

export interface OutboundRow extends OutboundMessage {
  id: string;
  status: 'pending' | 'sent' | 'dead';
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  ackCode: string | null;
  ack: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

interface Row {
  id: string;
  destination: string;
  dedupe_key: string;
  lane: string;
  message_type: string;
  control_id: string;
  body: string;
  status: OutboundRow['status'];
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  ack_code: string | null;
  ack: string | null;
  created_at: Date;
  sent_at: Date | null;
}

function toRow(r: Row): OutboundRow {
  return {
    id: String(r.id),
    destination: r.destination,
    dedupeKey: r.dedupe_key,
    lane: r.lane,
    messageType: r.message_type,
    controlId: r.control_id,
    body: r.body,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    ackCode: r.ack_code,
    ack: r.ack,
    createdAt: r.created_at,
    sentAt: r.sent_at,
  };
}

/**
 * The durable outbound queue: one row per message and destination, committed before the bot's
 * request is answered. Idempotent by (destination, dedupe key), so a redelivered subscription
 * event queues nothing twice. Rows of one lane (patient) leave in order: only a lane's oldest
 * pending row can be claimed, and it blocks the lane while it waits for its retry.
 */
export class OutboundStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Queues a message for several destinations; returns the new rows' ids by destination (duplicates omitted). */
  async enqueue(messages: OutboundMessage[]): Promise<{ destination: string; id: string }[]> {
    if (messages.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string; destination: string }>(
      `INSERT INTO hl7.outbound (destination, dedupe_key, lane, message_type, control_id, body, status)
       SELECT d, k, l, t, c, b, 'pending' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS m(d, k, l, t, c, b)
       ON CONFLICT (destination, dedupe_key) DO NOTHING
       RETURNING id, destination`,
      [
        messages.map((m) => m.destination),
        messages.map((m) => m.dedupeKey),
        messages.map((m) => m.lane),
        messages.map((m) => m.messageType),
        messages.map((m) => m.controlId),
        messages.map((m) => m.body),
      ],
    );
    return rows.map((r) => ({ destination: r.destination, id: String(r.id) }));
  }

  /** Claims the next sendable message of a destination (the head of a lane, due, not leased). */
  async claim(destination: string, leaseMs: number): Promise<OutboundRow | undefined> {
    const rows = await queuePlan<Row>(
      this.pool,
      `UPDATE hl7.outbound o SET lease_until = clock_timestamp() + make_interval(secs => $2::double precision / 1000), attempts = o.attempts + 1
       WHERE o.id = (
         SELECT p.id FROM hl7.outbound p
         WHERE p.destination = $1 AND p.status = 'pending'
           AND (p.lease_until IS NULL OR p.lease_until < clock_timestamp())
           AND p.next_attempt_at <= clock_timestamp()
           AND p.id = (SELECT q.id FROM hl7.outbound q WHERE q.destination = p.destination AND q.lane = p.lane AND q.status = 'pending' ORDER BY q.id LIMIT 1)
         ORDER BY p.id
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
       RETURNING o.*`,
      [destination, leaseMs],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** When the destination's next message is due (to sleep until then). */
  async nextDue(destination: string): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ due: Date | null }>(
      "SELECT min(greatest(next_attempt_at, coalesce(lease_until, next_attempt_at))) AS due FROM hl7.outbound WHERE destination = $1 AND status = 'pending'",
      [destination],
    );
    return rows[0]?.due ?? undefined;
  }

  async markSent(id: string, ackCode: string, ack: string): Promise<void> {
    await this.pool.query(
      "UPDATE hl7.outbound SET status = 'sent', sent_at = clock_timestamp(), ack_code = $2, ack = $3, lease_until = NULL, last_error = NULL WHERE id = $1",
      [id, ackCode, ack],
    );
  }

  /** A failed attempt: retried after `delayMs`, or dead-lettered when `dead`. */
  async markFailed(id: string, error: string, delayMs: number, dead: boolean, ack?: { code: string; text: string }): Promise<void> {
    await this.pool.query(
      `UPDATE hl7.outbound SET status = CASE WHEN $4 THEN 'dead' ELSE status END, last_error = $2, lease_until = NULL,
         next_attempt_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000),
         ack_code = coalesce($5, ack_code), ack = coalesce($6, ack)
       WHERE id = $1`,
      [id, error, delayMs, dead, ack?.code ?? null, ack?.text ?? null],
    );
  }

  /** A dead (or sent) message goes back into its destination's queue, attempts reset. */
  async replay(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE hl7.outbound SET status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(), lease_until = NULL
       WHERE id = $1 AND status IN ('dead', 'sent')`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  async get(id: string): Promise<OutboundRow | undefined> {
    if (!/^\d+$/.test(id)) return undefined;
    const { rows } = await this.pool.query<Row>('SELECT * FROM hl7.outbound WHERE id = $1', [id]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  async list(filter: { status?: string; destination?: string; limit: number; offset: number }): Promise<OutboundRow[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM hl7.outbound WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR destination = $2)
       ORDER BY id DESC LIMIT $3 OFFSET $4`,
      [filter.status ?? null, filter.destination ?? null, filter.limit, filter.offset],
    );
    return rows.map(toRow);
  }

  /** Pending and dead messages per destination. */
  async depth(): Promise<Record<string, { pending: number; dead: number }>> {
    const { rows } = await this.pool.query<{ destination: string; pending: number; dead: number }>(
      `SELECT destination, count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'dead')::int AS dead
       FROM hl7.outbound WHERE status IN ('pending', 'dead') GROUP BY destination`,
    );
    return Object.fromEntries(rows.map((r) => [r.destination, { pending: r.pending, dead: r.dead }]));
  }
}
