import type { DestinationConfig } from '../config.ts';
import { escapeValue } from '../hl7v2/escape.ts';
import { Hl7ParseError, Message } from '../hl7v2/message.ts';
import { laneOf } from '../inbound/ingest.ts';
import type { Metrics } from '../metrics.ts';
import type { OutboundStore } from '../store/outbound-store.ts';

export interface OutboundSubmission {
  /** The HL7 v2 message (ER7) to deliver. */
  message: string;
  /** Idempotency: the same key is queued once per destination (e.g. "Encounter/1/_history/3:A03"). */
  dedupeKey: string;
  /** Ordering lane (default: the patient, from PID-3). */
  lane?: string;
  /** Only these destinations (default: every enabled destination taking this message type). */
  destinations?: string[];
}

export class OutboundRequestError extends Error {}

/** The message as a destination receives it: MSH-5/6 set to the destination's receiving application/facility when configured. */
export function addressTo(message: Message, destination: DestinationConfig): string {
  const d = message.delimiters;
  if (destination.receivingApplication) message.header.setField(5, escapeValue(destination.receivingApplication, d));
  if (destination.receivingFacility) message.header.setField(6, escapeValue(destination.receivingFacility, d));
  return message.toString();
}

/** Routes submitted messages to the destinations that take their type and queues them durably. */
export class OutboundQueue {
  private readonly destinations: DestinationConfig[];
  private readonly store: OutboundStore;
  private readonly metrics: Metrics;
  private readonly onQueued: (destination: string) => void;

  constructor(destinations: DestinationConfig[], store: OutboundStore, metrics: Metrics, onQueued: (destination: string) => void) {
    this.destinations = destinations;
    this.store = store;
    this.metrics = metrics;
    this.onQueued = onQueued;
  }

  /** Wakes a destination's sender (after a replay). */
  wake(destination: string): void {
    this.onQueued(destination);
  }

  async submit(
    input: OutboundSubmission,
  ): Promise<{ messageType: string; queued: { destination: string; id: string }[]; duplicates: number }> {
    if (typeof input.message !== 'string' || typeof input.dedupeKey !== 'string' || !input.dedupeKey) {
      throw new OutboundRequestError('message (HL7 v2 text) and dedupeKey are required');
    }
    let message: Message;
    try {
      message = Message.parse(input.message.replace(/\r\n|\n/g, '\r'));
    } catch (err) {
      throw new OutboundRequestError(`message is not HL7 v2: ${err instanceof Hl7ParseError ? err.message : String(err)}`);
    }
    const controlId = message.controlId;
    if (!controlId) throw new OutboundRequestError('MSH-10 (message control id) is required');
    const messageType = message.typeName;
    const targets = this.destinations.filter(
      (d) => d.enabled && d.messageTypes.includes(messageType) && (!input.destinations || input.destinations.includes(d.name)),
    );
    const lane = input.lane || laneOf(message, `key:${input.dedupeKey}`);
    const queued = await this.store.enqueue(
      targets.map((d) => ({
        destination: d.name,
        dedupeKey: input.dedupeKey,
        lane,
        messageType,
        controlId,
        body: addressTo(Message.parse(message.toString()), d),
      })),
    );
    this.metrics.inc('outboundQueued', queued.length);
    for (const q of queued) this.onQueued(q.destination);
    return { messageType, queued, duplicates: targets.length - queued.length };
  }
}
