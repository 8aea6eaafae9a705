import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { ClaimedMessage, ConversionOutcome, MessageStore } from '../store/message-store.ts';
import { type ConversionResult, type Converter, TransientConversionError } from './converter.ts';

export interface ConversionWorkersOptions {
  store: MessageStore;
  converter: Converter;
  metrics: Metrics;
  logger: Logger;
  workers: number;
  batchSize: number;
  leaseMs: number;
  /** How often an idle worker looks for work it was not woken for (other instances' messages, retries). */
  pollMs?: number;
}

/** Backoff for transient failures: 1 s, 2 s, 4 s … capped at a minute. */
export function retryDelayMs(attempts: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** A conversion result as the store records it: AA → converted; AE/AR → the error queue. */
export function outcomeOf(id: string, result: ConversionResult): ConversionOutcome {
  if (result.code === 'AA') return { id, status: 'converted', resultCode: 'AA' };
  return {
    id,
    status: 'error',
    resultCode: result.code,
    error: result.errors.map((e) => e.text).join('; ') || 'conversion failed',
    errorDetail: result.errors,
  };
}

/**
 * Converts stored messages asynchronously: each worker claims a batch (oldest message of each
 * patient lane, SKIP LOCKED), sends it to the hl7-inbound bot in one `$execute`, and records each
 * outcome. Messages stay in the store while being converted, so a crash at any point only means
 * the lease expires and another worker converts them again (the bot's writes are idempotent).
 */
export class ConversionWorkers {
  private readonly o: ConversionWorkersOptions;
  private running = false;
  private loops: Promise<void>[] = [];
  private wakers: (() => void)[] = [];

  constructor(options: ConversionWorkersOptions) {
    this.o = options;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < this.o.workers; i++) this.loops.push(this.loop(i));
  }

  /** New work was stored: wake idle workers now instead of at their next poll. */
  wake(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.o.pollMs ?? 1000);
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async loop(worker: number): Promise<void> {
    while (this.running) {
      let claimed: ClaimedMessage[] = [];
      try {
        claimed = await this.o.store.claim(this.o.batchSize, this.o.leaseMs);
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message, worker }, 'claiming HL7 messages failed');
      }
      if (claimed.length === 0) {
        await this.idle();
        continue;
      }
      await this.convertBatch(claimed);
    }
  }

  private async convertBatch(claimed: ClaimedMessage[]): Promise<void> {
    const { converter, store, metrics, logger } = this.o;
    const started = performance.now();
    let results: ConversionResult[];
    try {
      results = await converter.convert(claimed.map((m) => m.body));
    } catch (err) {
      const transient = err instanceof TransientConversionError;
      metrics.inc('conversionRetries', claimed.length);
      logger.warn({ err: (err as Error).message, messages: claimed.length, transient }, 'HL7 conversion deferred');
      const delay = retryDelayMs(Math.min(...claimed.map((m) => m.attempts)));
      await store
        .retryLater(
          claimed.map((m) => m.id),
          delay,
          (err as Error).message,
        )
        .catch((e) => logger.error({ err: e }, 'could not release HL7 messages (their lease will expire)'));
      return;
    }
    metrics.observe('conversionBatch', performance.now() - started);
    const outcomes = claimed.map((m, i) => outcomeOf(m.id, results[i]));
    try {
      await store.complete(outcomes);
    } catch (err) {
      logger.error({ err, messages: claimed.length }, 'recording HL7 conversion outcomes failed (they will be converted again)');
      return;
    }
    const now = Date.now();
    for (const [i, o] of outcomes.entries()) {
      if (o.status === 'converted') metrics.inc('converted');
      else {
        metrics.inc('conversionErrors');
        logger.warn({ message: claimed[i].controlId, type: claimed[i].messageType, error: o.error }, 'HL7 message conversion failed');
      }
      metrics.observe('conversion', now - claimed[i].receivedAt.getTime());
    }
  }
}
