import type { Logger } from 'pino';
import type { InboundChannelConfig } from '../config.ts';
import { type AckIdentity, ackCodeFor, buildAck, ControlIds } from '../hl7v2/ack.ts';
import { encodeText } from '../hl7v2/charset.ts';
import type { Metrics } from '../metrics.ts';
import type { DecodedFrame } from '../mllp/framing.ts';
import { type Connection, MllpServer } from '../mllp/server.ts';
import type { MessageStore, StoredMessage } from '../store/message-store.ts';
import { type Converter, TransientConversionError } from './converter.ts';
import { buildReply, type IngestContext, type PreparedMessage, prepareFrame } from './ingest.ts';
import { outcomeOf, retryDelayMs } from './workers.ts';

export interface InboundChannelDeps {
  config: InboundChannelConfig;
  identity: AckIdentity;
  store: MessageStore;
  metrics: Metrics;
  logger: Logger;
  /** Used by application-accept channels, which ACK only after conversion. */
  converter: Converter;
  /** Wakes the conversion workers after accepted messages are stored. */
  onStored: () => void;
}

/**
 * One inbound channel: an MLLP listener whose frames are checked, stored (group commit) and
 * answered. Commit-accept (default): the ACK leaves once the message is committed. Application-
 * accept: the message is converted right away and the ACK carries the bot's verdict; if the
 * server cannot be reached the sender gets no ACK and resends (the stored copy is converted by
 * the workers meanwhile, and the resend then gets its final ACK).
 */
export class InboundChannel {
  readonly config: InboundChannelConfig;
  private readonly deps: InboundChannelDeps;
  private readonly server: MllpServer;
  private readonly ids = new ControlIds();
  private port?: number;

  constructor(deps: InboundChannelDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.server = new MllpServer(
      {
        port: deps.config.port,
        host: deps.config.host,
        tls: deps.config.tls,
        maxConnections: deps.config.maxConnections,
        maxFrameBytes: deps.config.maxFrameBytes,
        idleTimeoutSeconds: deps.config.idleTimeoutSeconds,
        logger: deps.logger,
      },
      (frame, connection) => this.handle(frame, connection),
    );
  }

  async start(): Promise<number> {
    this.port = await this.server.listen();
    this.deps.logger.info(
      { channel: this.config.name, port: this.port, tls: !!this.config.tls, ackMode: this.config.ackMode },
      'HL7 channel listening',
    );
    return this.port;
  }

  get listeningPort(): number | undefined {
    return this.port;
  }

  get stats(): MllpServer['stats'] {
    return this.server.stats;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private async handle(frame: DecodedFrame, connection: Connection): Promise<Buffer> {
    const { store, metrics } = this.deps;
    const started = performance.now();
    metrics.inc('framesReceived');
    const ctx: IngestContext = { channel: this.config, identity: this.deps.identity, ids: this.ids, remote: connection.remote };
    const prepared = prepareFrame(frame, ctx);
    metrics.inc('messagesReceived', prepared.messages.length);
    const application = this.config.ackMode === 'application';
    let stored: StoredMessage[];
    try {
      stored = await Promise.all(
        prepared.messages.map((m) =>
          store.write(application && m.record.accepted ? { ...m.record, leaseMs: this.config.applicationAckTimeoutMs * 2 } : m.record),
        ),
      );
    } catch (err) {
      metrics.inc('storeFailures');
      throw err;
    }
    if (prepared.messages.some((m, i) => m.record.accepted && !stored[i].duplicate)) this.deps.onStored();
    const acks: Buffer[] = [];
    for (const [i, m] of prepared.messages.entries()) {
      let { ack, ackCode: code } = stored[i];
      if (stored[i].duplicate) metrics.inc('duplicates');
      if (application && m.record.accepted && (!stored[i].duplicate || stored[i].status === 'pending')) {
        ({ ack, code } = await this.convertNow(stored[i].id, m));
      }
      acks.push(ack);
      metrics.inc(code === 'AA' || code === 'CA' ? 'ackAA' : code === 'AE' || code === 'CE' ? 'ackAE' : 'ackAR');
      metrics.countMessage(m.record.messageType, code);
    }
    metrics.observe('ack', performance.now() - started);
    return buildReply(prepared, acks, ctx);
  }

  /** Application-accept: converts one stored message now and stores the ACK that says how it went. */
  private async convertNow(id: string, m: PreparedMessage): Promise<{ ack: Buffer; code: string }> {
    const { store, converter, metrics, logger } = this.deps;
    let result: Awaited<ReturnType<Converter['convert']>>[number];
    try {
      [result] = await converter.convert([m.record.body]);
    } catch (err) {
      const transient = err instanceof TransientConversionError;
      logger.warn({ err: (err as Error).message, message: m.record.controlId, transient }, 'application-accept conversion failed: no ACK');
      await store.retryLater([id], retryDelayMs(1), (err as Error).message).catch(() => undefined);
      throw err;
    }
    const code = ackCodeFor(result.code, m.message);
    const ackText = buildAck(m.message, { code, controlId: this.ids.next(), errors: result.errors, identity: this.deps.identity });
    const ack = Buffer.from(encodeText(ackText, m.record.charset));
    const outcome = { ...outcomeOf(id, result), ack: { code, bytes: ack } };
    await store.complete([outcome]);
    metrics.inc(outcome.status === 'converted' ? 'converted' : 'conversionErrors');
    return { ack, code };
  }
}
