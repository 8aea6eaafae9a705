/**
 * Test helpers for the bridge: configurations on free ports, a raw MLLP peer that can split, merge
 * and pad frames the way real networks and real senders do, and a fake legacy system (an MLLP
 * endpoint that records what it receives and answers as told: ACK, NAK, or silence).
 */
import net from 'node:net';
import tls from 'node:tls';
import pino from 'pino';
import { type ChannelsConfig, parseChannels } from '../config.ts';
import { buildAck } from '../hl7v2/ack.ts';
import { Message } from '../hl7v2/message.ts';
import { MllpDecoder } from '../mllp/framing.ts';
import { MllpServer } from '../mllp/server.ts';

/** A channels configuration for tests: one inbound channel "test" on a free port, API on a free port. */
export function testChannels(input: Record<string, unknown> = {}, dir?: string): ChannelsConfig {
  return parseChannels(
    {
      identity: { application: 'EMERGISPHERE', facility: 'ED' },
      inbound: [{ name: 'test', port: 0, host: '127.0.0.1' }],
      destinations: [],
      conversion: { workers: 2, batchSize: 50, leaseSeconds: 30 },
      api: { port: 0, host: '127.0.0.1' },
      ...input,
    },
    { dir, env: {} },
  );
}

export interface RawPeerOptions {
  port: number;
  /** Pause between chunks, so each arrives as its own TCP segment. */
  delayMs?: number;
  /** Reply frames to wait for. */
  expect: number;
  timeoutMs?: number;
  tls?: tls.ConnectionOptions;
}

/** Writes the chunks as given (no framing added) and collects `expect` reply frames. */
export async function sendRaw(chunks: Buffer[], options: RawPeerOptions): Promise<Buffer[]> {
  const socket: net.Socket = options.tls
    ? tls.connect({ host: '127.0.0.1', port: options.port, ...options.tls })
    : net.connect({ host: '127.0.0.1', port: options.port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  const decoder = new MllpDecoder();
  const replies: Buffer[] = [];
  const done = new Promise<Buffer[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`got ${replies.length} of ${options.expect} replies in ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    );
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        replies.push(f.kind === 'frame' ? f.bytes : f.head);
        if (replies.length >= options.expect) {
          clearTimeout(timer);
          resolve(replies);
        }
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (replies.length < options.expect) reject(new Error(`connection closed after ${replies.length} of ${options.expect} replies`));
    });
  });
  done.catch(() => undefined);
  for (const c of chunks) {
    socket.write(c);
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
  }
  try {
    return await done;
  } finally {
    socket.destroy();
  }
}

/** How the fake legacy system answers the nth delivery of a message (1 = first attempt). */
export type LegacyBehavior = (message: Message, attempt: number) => 'AA' | 'AE' | 'AR' | 'silence' | 'wrong-id';

export interface FakeLegacy {
  port: number;
  /** Every message received, in arrival order (retries included). */
  received: Message[];
  /** Accepted messages, in order (what the legacy system "has"). */
  accepted: Message[];
  behavior: LegacyBehavior;
  close(): Promise<void>;
}

/** A legacy system's MLLP endpoint for outbound tests. */
export async function startFakeLegacy(behavior: LegacyBehavior = () => 'AA'): Promise<FakeLegacy> {
  const attempts = new Map<string, number>();
  const fake: Partial<FakeLegacy> & { received: Message[]; accepted: Message[]; behavior: LegacyBehavior } = {
    received: [],
    accepted: [],
    behavior,
  };
  const server = new MllpServer({ port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) }, async (frame) => {
    if (frame.kind !== 'frame') return undefined;
    const message = Message.parse(frame.bytes.toString('utf8'));
    fake.received.push(message);
    const attempt = (attempts.get(message.controlId) ?? 0) + 1;
    attempts.set(message.controlId, attempt);
    const answer = fake.behavior(message, attempt);
    if (answer === 'silence') return undefined;
    if (answer === 'AA') fake.accepted.push(message);
    const ack = buildAck(message, {
      code: answer === 'wrong-id' ? 'AA' : answer,
      controlId: `LEG${fake.received.length}`,
      errors: answer === 'AE' || answer === 'AR' ? [{ code: '206', severity: 'E', text: 'Application record locked' }] : [],
      identity: { application: 'LEGACY', facility: 'HOSP' },
    });
    return Buffer.from(answer === 'wrong-id' ? ack.replace(`MSA|AA|${message.controlId}`, 'MSA|AA|SOMETHING-ELSE') : ack);
  });
  fake.port = await server.listen();
  fake.close = () => server.close(100);
  return fake as FakeLegacy;
}
