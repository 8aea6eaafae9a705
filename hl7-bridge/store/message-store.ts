import type pg from 'pg';
import { encodeText } from '../hl7v2/charset.ts';

/** One inbound message as the listener stores it, with the ACK it is about to send. */
export interface InboundRecord {
  channel: string;
  remote?: string;
  /** The bytes as received; stored only when `body` encoded in `charset` is not the same bytes. */
  raw: Buffer;
  body: string;
  charset?: string;
  sendingApplication: string;
  sendingFacility: string;
  controlId: string;
  messageType: string;
  version?: string;
  messageTime?: string;
  patientIds: string[];
  lane: string;
  /** AA/CA at receipt: converted later (and deduplicated). AE/AR: logged only. */
  accepted: boolean;
  status: 'pending' | 'rejected' | 'converted' | 'error';
  ackCode: string;
  ackControlId: string;
  ack: Buffer;
  resultCode?: string;
  error?: string;
  errorDetail?: unknown;
  /** Hold the row away from the conversion workers this long (application-accept converts it itself). */
  leaseMs?: number;
}

export interface StoredMessage {
  id: string;
  /** True when this was a resend of an accepted message: `ack` is then the original ACK. */
  duplicate: boolean;
  ack: Buffer;
  ackCode: string;
  status: InboundRecord['status'];
}

/** A message claimed for conversion. */
export interface ClaimedMessage {
  id: string;
  channel: string;
  body: string;
  lane: string;
  attempts: number;
  controlId: string;
  messageType: string;
  receivedAt: Date;
}

export interface ConversionOutcome {
  id: string;
  status: 'converted' | 'error';
  resultCode: string;
  error?: string;
  errorDetail?: unknown;
  /** Application-accept: the ACK sent after conversion replaces the stored one (resends get it). */
  ack?: { code: string; bytes: Buffer };
}

interface Pending {
  record: InboundRecord;
  resolve: (m: StoredMessage) => void;
  reject: (err: unknown) => void;
}

export interface MessageStoreOptions {
  /** Rows per INSERT. */
  maxBatch?: number;
  /** INSERTs in flight at once (each one a group commit). */
  maxConcurrentFlushes?: number;
}

const COLUMNS = [
  ['channel', 'text'],
  ['remote', 'text'],
  ['raw', 'bytea'],
  ['body', 'text'],
  ['charset', 'text'],
  ['sending_application', 'text'],
  ['sending_facility', 'text'],
  ['control_id', 'text'],
  ['message_type', 'text'],
  ['version', 'text'],
  ['message_time', 'text'],
  ['patient_ids', 'text'],
  ['lane', 'text'],
  ['accepted', 'boolean'],
  ['status', 'text'],
  ['ack_code', 'text'],
  ['ack_control_id', 'text'],
  ['ack', 'bytea'],
  ['result_code', 'text'],
  ['error', 'text'],
  ['error_detail', 'jsonb'],
  ['lease_ms', 'integer'],
] as const;

/** The raw bytes, unless re-encoding the text gives them back exactly (then they are not stored twice). */
function rawUnlessDerivable(r: InboundRecord): Buffer | null {
  const derived = encodeText(r.body, r.charset);
  return derived.length === r.raw.length && Buffer.from(derived.buffer, derived.byteOffset, derived.length).equals(r.raw) ? null : r.raw;
}

function columnValues(r: InboundRecord): unknown[] {
  return [
    r.channel,
    r.remote ?? null,
    rawUnlessDerivable(r),
    r.body,
    r.charset ?? null,
    r.sendingApplication,
    r.sendingFacility,
    r.controlId,
    r.messageType,
    r.version ?? null,
    r.messageTime ?? null,
    // Arrays of arrays do not unnest row by row: each row's ids travel as one JSON text.
    JSON.stringify(r.patientIds),
    r.lane,
    r.accepted,
    r.status,
    r.ackCode,
    r.ackControlId,
    r.ack,
    r.resultCode ?? null,
    r.error ?? null,
    r.errorDetail === undefined ? null : JSON.stringify(r.errorDetail),
    r.leaseMs ?? null,
  ];
}

function selectExpression(column: string): string {
  if (column === 'patient_ids') return 'ARRAY(SELECT jsonb_array_elements_text(t.patient_ids::jsonb))';
  if (column === 'lease_ms') return 'clock_timestamp() + make_interval(secs => t.lease_ms / 1000.0)';
  return `t.${column}`;
}

const INSERT_SQL = `
INSERT INTO hl7.message (${COLUMNS.map(([c]) => (c === 'lease_ms' ? 'lease_until' : c)).join(', ')})
SELECT ${COLUMNS.map(([c]) => selectExpression(c)).join(', ')}
FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS t(${COLUMNS.map(([c]) => c).join(', ')})
ON CONFLICT (sending_application, sending_facility, control_id) WHERE accepted DO NOTHING
RETURNING id, ack_control_id`;

/**
 * Runs a queue claim with the plan a queue needs: walk the pending index in id order and stop at
 * the limit. Without statistics (a fresh table, a sudden backlog) the planner may instead read
 * every pending row, sort them and then take the first few — one claim per batch then costs
 * O(backlog). Turning off bitmap scans and sorts for this one transaction rules that plan out.
 */
export async function queuePlan<R extends pg.QueryResultRow>(pool: pg.Pool, sql: string, params: unknown[]): Promise<R[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off');
    const { rows } = await client.query<R>(sql, params);
    await client.query('COMMIT');
    return rows;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * The inbound message store. `write()` is a group commit: records arriving while an INSERT is in
 * flight go into the next one, and each promise resolves once its row is committed — the listener
 * sends the ACK only then. A resend of an accepted message (same MSH-3, MSH-4, MSH-10) inserts
 * nothing and resolves with the ACK sent the first time.
 */
export class MessageStore {
  readonly pool: pg.Pool;
  private readonly maxBatch: number;
  private readonly maxFlushes: number;
  private queue: Pending[] = [];
  private flushes = 0;
  private closed = false;

  constructor(pool: pg.Pool, options: MessageStoreOptions = {}) {
    this.pool = pool;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxFlushes = options.maxConcurrentFlushes ?? 2;
  }

  write(record: InboundRecord): Promise<StoredMessage> {
    if (this.closed) return Promise.reject(new Error('message store closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (this.flushes < this.maxFlushes) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushes++;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.insert(batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushes--;
    }
  }

  private async insert(batch: Pending[]): Promise<void> {
    const columns: unknown[][] = COLUMNS.map(() => []);
    for (const p of batch) {
      columnValues(p.record).forEach((v, i) => {
        columns[i].push(v);
      });
    }
    // A named statement is parsed and planned once per connection, not for every group commit.
    const { rows } = await this.pool.query<{ id: string; ack_control_id: string }>({
      name: 'hl7-message-insert',
      text: INSERT_SQL,
      values: columns,
    });
    const inserted = new Map(rows.map((r) => [r.ack_control_id, String(r.id)]));
    const duplicates: Pending[] = [];
    for (const p of batch) {
      const id = inserted.get(p.record.ackControlId);
      if (id) p.resolve({ id, duplicate: false, ack: p.record.ack, ackCode: p.record.ackCode, status: p.record.status });
      else duplicates.push(p);
    }
    if (duplicates.length) await this.resolveDuplicates(duplicates);
  }

  /** Counts the resends and answers each with the original ACK. */
  private async resolveDuplicates(duplicates: Pending[]): Promise<void> {
    const key = (a: string, f: string, c: string) => JSON.stringify([a, f, c]);
    const { rows } = await this.pool.query<{
      id: string;
      sending_application: string;
      sending_facility: string;
      control_id: string;
      ack: Buffer;
      ack_code: string;
      status: InboundRecord['status'];
    }>(
      `UPDATE hl7.message m SET resends = resends + d.n, last_resend_at = clock_timestamp()
       FROM (SELECT a, f, c, count(*)::int AS n FROM unnest($1::text[], $2::text[], $3::text[]) AS t(a, f, c) GROUP BY a, f, c) d
       WHERE m.accepted AND m.sending_application = d.a AND m.sending_facility = d.f AND m.control_id = d.c
       RETURNING m.id, m.sending_application, m.sending_facility, m.control_id, m.ack, m.ack_code, m.status`,
      [
        duplicates.map((p) => p.record.sendingApplication),
        duplicates.map((p) => p.record.sendingFacility),
        duplicates.map((p) => p.record.controlId),
      ],
    );
    const originals = new Map(rows.map((r) => [key(r.sending_application, r.sending_facility, r.control_id), r]));
    for (const p of duplicates) {
      const original = originals.get(key(p.record.sendingApplication, p.record.sendingFacility, p.record.controlId));
      if (original)
        p.resolve({ id: String(original.id), duplicate: true, ack: original.ack, ackCode: original.ack_code, status: original.status });
      else p.reject(new Error(`message ${p.record.controlId} was neither stored nor found as a duplicate`));
    }
  }

  /**
   * Claims up to `limit` pending messages for conversion: the oldest message of each lane only
   * (so one patient's messages are converted one after another, in order), skipping rows another
   * worker holds. The lease makes a crashed worker's claim expire.
   */
  async claim(limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    const rows = await queuePlan<{
      id: string;
      channel: string;
      body: string;
      lane: string;
      attempts: number;
      control_id: string;
      message_type: string;
      received_at: Date;
    }>(
      this.pool,
      // = ANY(ARRAY(…)) keeps the update on the primary key.
      `UPDATE hl7.message m SET lease_until = clock_timestamp() + make_interval(secs => $2::double precision / 1000), attempts = m.attempts + 1
       WHERE m.id = ANY(ARRAY(
         SELECT p.id FROM hl7.message p
         WHERE p.status = 'pending'
           AND (p.lease_until IS NULL OR p.lease_until < clock_timestamp())
           AND (p.next_attempt_at IS NULL OR p.next_attempt_at <= clock_timestamp())
           -- The lane's head. A correlated scalar subquery runs per candidate (an index probe),
           -- where NOT EXISTS may be planned as a hash anti-join over every pending row.
           AND p.id = (SELECT q.id FROM hl7.message q WHERE q.status = 'pending' AND q.lane = p.lane ORDER BY q.id LIMIT 1)
         ORDER BY p.id
         LIMIT $1
         FOR UPDATE SKIP LOCKED))
       RETURNING m.id, m.channel, m.body, m.lane, m.attempts, m.control_id, m.message_type, m.received_at`,
      [limit, leaseMs],
    );
    return rows
      .map((r) => ({
        id: String(r.id),
        channel: r.channel,
        body: r.body,
        lane: r.lane,
        attempts: r.attempts,
        controlId: r.control_id,
        messageType: r.message_type,
        receivedAt: r.received_at,
      }))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** Records conversion outcomes (one statement for the whole batch). */
  async complete(outcomes: ConversionOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    await this.pool.query(
      `UPDATE hl7.message m SET status = o.status, result_code = o.result_code, error = o.error, error_detail = o.detail::jsonb,
         converted_at = CASE WHEN o.status = 'converted' THEN clock_timestamp() ELSE m.converted_at END,
         lease_until = NULL, next_attempt_at = NULL,
         ack_code = coalesce(o.ack_code, m.ack_code), ack = coalesce(o.ack, m.ack)
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
         AS o(id, status, result_code, error, detail, ack_code, ack)
       WHERE m.id = o.id`,
      [
        outcomes.map((o) => o.id),
        outcomes.map((o) => o.status),
        outcomes.map((o) => o.resultCode),
        outcomes.map((o) => o.error ?? null),
        outcomes.map((o) => (o.errorDetail === undefined ? null : JSON.stringify(o.errorDetail))),
        outcomes.map((o) => o.ack?.code ?? null),
        outcomes.map((o) => o.ack?.bytes ?? null),
      ],
    );
  }

  /** Gives claimed messages back after a transient failure (server unreachable): retried after `delayMs`. */
  async retryLater(ids: string[], delayMs: number, error: string): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      `UPDATE hl7.message SET lease_until = NULL, error = $3,
         next_attempt_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
       WHERE id = ANY($1::bigint[])`,
      [ids, delayMs, error],
    );
  }

  /** Puts a message back into the conversion queue (replay from the error queue or the log). */
  async replay(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE hl7.message SET status = 'pending', attempts = 0, lease_until = NULL, next_attempt_at = NULL, error = NULL, error_detail = NULL
       WHERE id = $1 AND status IN ('error', 'rejected', 'converted')`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Messages waiting for conversion, and the age of the oldest. */
  async queueDepth(): Promise<{ pending: number; errors: number; oldestPendingSeconds: number | null }> {
    const { rows } = await this.pool.query<{ pending: number; errors: number; oldest: number | null }>(
      `SELECT (SELECT count(*)::int FROM hl7.message WHERE status = 'pending') AS pending,
              (SELECT count(*)::int FROM hl7.message WHERE status = 'error') AS errors,
              (SELECT extract(epoch FROM clock_timestamp() - min(received_at))::float FROM hl7.message WHERE status = 'pending') AS oldest`,
    );
    return { pending: rows[0].pending, errors: rows[0].errors, oldestPendingSeconds: rows[0].oldest };
  }

  /** Waits for queued writes; further writes are refused. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushes > 0 || this.queue.length > 0) {
      if (this.flushes === 0) await this.flush();
      else await new Promise((r) => setTimeout(r, 5));
    }
  }
}
