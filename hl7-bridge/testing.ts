/**
 * Test helpers for the bridge: configurations on free ports and a raw MLLP peer that can split,
 * merge and pad frames the way real networks and real senders do.
 */
import net from 'node:net';
import tls from 'node:tls';
import { type ChannelsConfig, parseChannels } from './config.ts';
import { MllpDecoder } from './mllp/framing.ts';

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
