import type { AuditEvent } from '@medplum/fhirtypes';
import pg from 'pg';
import type { Logger } from 'pino';
import { bulkInsertNew, stampNew } from '../fhir/bulk-insert.ts';

/** A small pool for audit writes only: asynchronous commit, so group commits are one round trip. */
export function createAuditPool(connectionString: string): pg.Pool {
  // One connection for recording, one for indexing, one spare so a long index batch never
  // holds up the recording of new events.
  const pool = new pg.Pool({ connectionString, max: 3, options: '-c synchronous_commit=off' });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

interface Pending {
  content: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface AuditLogOptions {
  /**
   * Index pending events in the background (every `indexIntervalMs`) while fewer than
   * `busyEventsPerSecond` events arrive; 0 turns background indexing off (reads still index first).
   */
  indexIntervalMs?: number;
  /** Above this recording rate the server is busy: background indexing waits (unless the backlog is large). */
  busyEventsPerSecond?: number;
  /** Pending events beyond which background indexing runs even while busy, so the backlog stays bounded. */
  maxBacklog?: number;
}

const MAX_BATCH = 500;
/** Events indexed per transaction (one INSERT per table for all of them). */
const INDEX_BATCH = 1000;

const RECORD_SQL = 'INSERT INTO audit_log (content) SELECT * FROM unnest($1::text[])';
const TAKE_SQL = (skipLocked: boolean) =>
  `DELETE FROM audit_log WHERE seq IN (
     SELECT seq FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT $2 FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''})
   RETURNING content`;

/**
 * The audit trail in two steps.
 *
 * Recording (request path): events recorded while a write is in flight are inserted together by
 * the next statement as narrow `audit_log` rows, and each `record()` resolves only once its event
 * is committed. Callers answer the request after that, so a crash right after answering loses no
 * audit, while concurrent requests share one small insert instead of each paying for a full
 * resource write with its history and search index.
 *
 * Indexing: `audit_log` rows become ordinary AuditEvent resources (searchable, readable through
 * the FHIR API like any other) in batches of a thousand, in one transaction that also deletes the
 * rows, so every event is indexed exactly once. This runs when the server is idle, when the
 * backlog grows large, and always before any read or search of AuditEvents (`indexPending`), so
 * a reader sees every event committed before its request.
 */
export class AuditLog {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly options: Required<AuditLogOptions>;
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private indexing: Promise<void> | undefined;
  /** Events recorded since the last background tick, and since the last completed indexing. */
  private recentlyRecorded = 0;
  /** Starts at 1 so the first idle tick picks up whatever an earlier run left pending. */
  private unindexed = 1;

  constructor(pool: pg.Pool, logger: Logger, options: AuditLogOptions = {}) {
    this.pool = pool;
    this.logger = logger;
    this.options = { indexIntervalMs: 1000, busyEventsPerSecond: 50, maxBacklog: 50_000, ...options };
    if (this.options.indexIntervalMs > 0) {
      this.timer = setInterval(() => this.backgroundTick(), this.options.indexIntervalMs);
      this.timer.unref();
    }
  }

  record(event: AuditEvent): Promise<void> {
    if (this.closed) {
      return Promise.reject(new Error('Audit log closed'));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ content: JSON.stringify(stampNew(event)), resolve, reject });
      if (!this.flushing) {
        void this.flush();
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          await this.insert(batch.map((p) => p.content));
          this.recentlyRecorded += batch.length;
          this.unindexed += batch.length;
          for (const p of batch) p.resolve();
        } catch (err) {
          this.logger.error({ err, events: batch.length }, 'audit write failed');
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * One statement per batch, on connections whose commits are asynchronous (see createAuditPool):
   * the events are in PostgreSQL (and survive our process dying) when it returns, without waiting
   * for the WAL flush to disk. Only a crash of the database machine itself within its WAL writer
   * delay could lose the newest events.
   */
  private async insert(contents: string[]): Promise<void> {
    await this.pool.query({ name: 'audit_record', text: RECORD_SQL, values: [contents] });
  }

  /**
   * Makes every event committed so far (by any instance) a searchable AuditEvent. Waits for
   * batches other instances are indexing at the same moment, so nothing committed before the
   * call is missed. Resolves at once when there is nothing pending.
   */
  async indexPending(): Promise<void> {
    const { rows } = await this.pool.query<{ max: string | null }>('SELECT max(seq)::text AS max FROM audit_log');
    if (rows[0]?.max === null || rows[0]?.max === undefined) {
      return;
    }
    await this.indexUpTo(rows[0].max, false);
  }

  /** Indexes pending events with seq ≤ `upTo`, a batch per transaction; returns how many. */
  private async indexUpTo(upTo: string, skipLocked: boolean, maxBatches = Number.POSITIVE_INFINITY): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.indexBatch(upTo, skipLocked);
      total += n;
      if (n < INDEX_BATCH) {
        // Drained: whatever this instance recorded is indexed (here or by another instance).
        this.unindexed = 0;
        return total;
      }
    }
    this.unindexed = Math.max(0, this.unindexed - total);
    return total;
  }

  private async indexBatch(upTo: string, skipLocked: boolean): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ content: string }>(TAKE_SQL(skipLocked), [upTo, INDEX_BATCH]);
      if (rows.length > 0) {
        await bulkInsertNew(
          client,
          rows.map((r) => JSON.parse(r.content)),
        );
      }
      await client.query('COMMIT');
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private backgroundTick(): void {
    const recent = this.recentlyRecorded;
    this.recentlyRecorded = 0;
    if (this.indexing || this.closed || this.unindexed === 0) {
      return;
    }
    const perSecond = (recent * 1000) / this.options.indexIntervalMs;
    if (perSecond > this.options.busyEventsPerSecond && this.unindexed < this.options.maxBacklog) {
      return;
    }
    this.indexing = this.indexUpTo(String(Number.MAX_SAFE_INTEGER), true, 10)
      .then(() => undefined)
      .catch((err) => this.logger.warn({ err }, 'audit indexing failed; retried later'))
      .finally(() => {
        this.indexing = undefined;
      });
  }

  /** Waits for queued events to be written; further records are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearInterval(this.timer);
    }
    while (this.flushing || this.queue.length > 0) {
      if (!this.flushing) {
        await this.flush();
      } else {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await this.indexing;
  }
}
