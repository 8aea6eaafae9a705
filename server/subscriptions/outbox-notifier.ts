import { AsyncResource } from 'node:async_hooks';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createPool } from '../db/pool.ts';
import type { CreatedResource, OutboxWakeup } from '../fhir/outbox-notify.ts';

export interface OutboxNotifierOptions {
  databaseUrl: string;
  logger: Logger;
  /** The NOTIFY channel the subscription workers listen on. */
  channel: string;
}

/**
 * After each commit that left subscription outbox rows: wakes this instance's dispatcher at once,
 * and the other instances with a NOTIFY sent outside the writing transaction (see OutboxWakeup
 * for why) only when no dispatcher here will take the rows (subscriptions disabled on this
 * instance, or stopping). When one will, other instances have nothing to do for them: the rows are
 * claimed here within milliseconds, and a NOTIFY would only make each of them claim nothing (at 100
 * writes/s it was one query in ten of a single instance's). Another instance still helps with a
 * backlog through its fallback poll, and a process that dies between commit and dispatch leaves
 * its rows to that poll too. NOTIFYs are coalesced: while one is in flight, any number of further
 * commits cause exactly one more. Their connection commits asynchronously: a NOTIFY carries no
 * data, and one lost with a database crash is made up by the workers' fallback poll.
 */
export class OutboxNotifier implements OutboxWakeup {
  private readonly pool: pg.Pool;
  private readonly options: OutboxNotifierOptions;
  private readonly localWakers = new Set<(created: readonly CreatedResource[]) => boolean>();
  /**
   * The context the notifier was made in (the server's start, outside any request). Wakers run in
   * it: written() is called inside a request, and a dispatch loop started there would carry that
   * request's async context (its trace, its log bindings) into every later delivery it makes.
   */
  private readonly home = new AsyncResource('OutboxNotifier');
  private pending = false;
  private sending: Promise<void> | undefined;
  private closed = false;
  /** NOTIFY statements sent, for tests and metrics. */
  sent = 0;

  constructor(options: OutboxNotifierOptions) {
    this.options = options;
    this.pool = createPool(options.databaseUrl, 1, { asyncCommit: true });
  }

  /**
   * Also called on every commit: this instance's own workers need no round trip through the
   * database. `wake` is told the resources created and returns whether its dispatcher will look at
   * the outbox.
   */
  onWritten(wake: (created: readonly CreatedResource[]) => boolean): () => void {
    this.localWakers.add(wake);
    return () => this.localWakers.delete(wake);
  }

  written(created: readonly CreatedResource[] = []): void {
    let dispatching = false;
    for (const wake of this.localWakers) {
      try {
        if (this.home.runInAsyncScope(wake, undefined, created)) dispatching = true;
      } catch (err) {
        this.options.logger.warn({ err }, 'outbox wake-up failed');
      }
    }
    if (this.closed || dispatching) return;
    this.pending = true;
    this.sending ??= this.home.runInAsyncScope(() => this.send());
  }

  private async send(): Promise<void> {
    try {
      while (this.pending && !this.closed) {
        this.pending = false;
        try {
          await this.pool.query('SELECT pg_notify($1, $2)', [this.options.channel, '']);
          this.sent++;
        } catch (err) {
          // Other instances find the rows with their fallback poll.
          this.options.logger.warn({ err: (err as Error).message }, 'outbox NOTIFY failed');
        }
      }
    } finally {
      // In the same microtask as the loop's last check: a written() after it starts a new send.
      this.sending = undefined;
    }
  }

  /** Sends what is pending, then closes the connection. */
  async close(): Promise<void> {
    await this.sending;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }
}
