import type { AuditEvent } from '@medplum/fhirtypes';
import pg from 'pg';
import type { Logger } from 'pino';
import { bulkInsertNew, stampNew } from '../fhir/bulk-insert.ts';

/** A small pool for audit writes only: asynchronous commit, so group commits are one round trip. */
export function createAuditPool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 2, options: '-c synchronous_commit=off' });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

interface Pending {
  event: AuditEvent & { id: string };
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = 500;

/**
 * Writes AuditEvents by group commit: events recorded while a write is in flight are inserted
 * together by the next statement, and each `record()` resolves only once its event is committed.
 * Callers answer the request after that, so a crash right after answering loses no audit, while
 * concurrent requests share one insert instead of paying one each.
 */
export class AuditLog {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;

  constructor(pool: pg.Pool, logger: Logger) {
    this.pool = pool;
    this.logger = logger;
  }

  record(event: AuditEvent): Promise<void> {
    if (this.closed) {
      return Promise.reject(new Error('Audit log closed'));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event: stampNew(event), resolve, reject });
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
          await this.insert(batch.map((p) => p.event));
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
  private async insert(events: (AuditEvent & { id: string })[]): Promise<void> {
    await bulkInsertNew(this.pool, events);
  }

  /** Waits for queued events to be written; further records are refused. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing || this.queue.length > 0) {
      if (!this.flushing) {
        await this.flush();
      } else {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }
}
