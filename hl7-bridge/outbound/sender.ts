import type { Logger } from 'pino';
import type { DestinationConfig } from '../config.ts';
import { splitBatch } from '../hl7v2/batch.ts';
import { Message } from '../hl7v2/message.ts';
import type { Metrics } from '../metrics.ts';
import { MllpClient, MllpConnectionError, MllpTimeoutError } from '../mllp/client.ts';
import type { OutboundRow, OutboundStore } from '../store/outbound-store.ts';

/** Exponential backoff with ±20 % jitter, capped. */
export function backoffMs(attempts: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export type DeliveryResult =
  | { ok: true; ackCode: string; ack: string }
  | { ok: false; error: string; ack?: { code: string; text: string }; reconnect: boolean };

/**
 * Checks a reply against the message it answers: an HL7 ACK whose MSA-2 is our MSH-10 and whose
 * MSA-1 accepts (AA or CA). A NAK (AE/AR/CE/CR), an ACK for another message (a late ACK of an
 * earlier attempt) or anything unparseable is a failed attempt.
 */
export function checkAck(reply: Buffer, controlId: string): DeliveryResult {
  const text = reply.toString('utf8');
  let ack: Message;
  try {
    ack = Message.parse(splitBatch(text).messages[0] ?? text);
  } catch (err) {
    return { ok: false, error: `unparseable reply: ${(err as Error).message}`, reconnect: true };
  }
  const code = ack.get('MSA-1').toUpperCase();
  const acknowledged = ack.get('MSA-2');
  if (acknowledged !== controlId) {
    return { ok: false, error: `the ACK acknowledges ${acknowledged || '(nothing)'} instead of ${controlId}`, reconnect: true };
  }
  if (code === 'AA' || code === 'CA') return { ok: true, ackCode: code, ack: text };
  const reason = ack.get('ERR-8') || ack.get('ERR-3.2') || ack.get('MSA-3') || ack.get('ERR-1.4.2') || 'no reason given';
  return { ok: false, error: `negative ACK ${code || '(no MSA-1)'}: ${reason}`, ack: { code, text }, reconnect: false };
}

export interface SenderDeps {
  destination: DestinationConfig;
  store: OutboundStore;
  metrics: Metrics;
  logger: Logger;
  pollMs?: number;
}

/**
 * Delivers one destination's queue over one MLLP connection: one message at a time (MLLP is
 * synchronous), waiting for its ACK, retrying failures with backoff, dead-lettering after
 * `maxAttempts`. Messages of one patient leave in order (the store hands out lane heads only).
 */
export class DestinationSender {
  private readonly deps: SenderDeps;
  private readonly client: MllpClient;
  private running = false;
  private loop?: Promise<void>;
  private waker?: () => void;

  constructor(deps: SenderDeps) {
    this.deps = deps;
    const d = deps.destination;
    this.client = new MllpClient({ host: d.host, port: d.port, tls: d.tls, connectTimeoutMs: d.connectTimeoutMs });
  }

  get name(): string {
    return this.deps.destination.name;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Something was queued: look now. */
  wake(): void {
    this.waker?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    this.client.close();
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(5, ms));
      this.waker = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.waker = undefined;
  }

  private async run(): Promise<void> {
    const { store, logger, destination } = this.deps;
    const poll = this.deps.pollMs ?? 1000;
    while (this.running) {
      let row: OutboundRow | undefined;
      try {
        row = await store.claim(destination.name, destination.ackTimeoutMs + destination.connectTimeoutMs + 5_000);
      } catch (err) {
        logger.warn({ err: (err as Error).message, destination: destination.name }, 'claiming outbound HL7 failed');
        await this.sleep(poll);
        continue;
      }
      if (!row) {
        const due = await store.nextDue(destination.name).catch(() => undefined);
        await this.sleep(due ? Math.min(poll, due.getTime() - Date.now()) : poll);
        continue;
      }
      await this.deliver(row);
    }
  }

  private async deliver(row: OutboundRow): Promise<void> {
    const { store, metrics, logger, destination } = this.deps;
    let result: DeliveryResult;
    try {
      const reply = await this.client.send(row.body, destination.ackTimeoutMs);
      result = checkAck(reply, row.controlId);
    } catch (err) {
      if (err instanceof MllpTimeoutError) metrics.inc('outboundTimeouts');
      else if (err instanceof MllpConnectionError) metrics.inc('outboundConnectionErrors');
      result = { ok: false, error: (err as Error).message, reconnect: true };
    }
    try {
      if (result.ok) {
        await store.markSent(row.id, result.ackCode, result.ack);
        metrics.inc('outboundSent');
        metrics.observe('outboundDelivery', Date.now() - row.createdAt.getTime());
        return;
      }
      if (result.ack) metrics.inc('outboundNegativeAcks');
      if (result.reconnect) this.client.close();
      const dead = row.attempts >= destination.maxAttempts;
      const delay = backoffMs(row.attempts, destination.backoffInitialMs, destination.backoffMaxMs);
      await store.markFailed(row.id, result.error, dead ? 0 : delay, dead, result.ack);
      if (dead) {
        metrics.inc('outboundDeadLetters');
        logger.error(
          { destination: destination.name, message: row.controlId, attempts: row.attempts, error: result.error },
          'outbound HL7 message dead-lettered',
        );
      } else {
        logger.warn(
          { destination: destination.name, message: row.controlId, attempt: row.attempts, retryInMs: delay, error: result.error },
          'outbound HL7 delivery failed',
        );
      }
    } catch (err) {
      // The lease runs out and the message is tried again: at least once, never lost.
      logger.error({ err, destination: destination.name, message: row.controlId }, 'recording an outbound HL7 attempt failed');
    }
  }
}
