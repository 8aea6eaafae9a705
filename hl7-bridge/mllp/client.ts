import net from 'node:net';
import tls from 'node:tls';
import type { ClientTls } from '../config.ts';
import { frame, MllpDecoder } from './framing.ts';

export class MllpTimeoutError extends Error {}
export class MllpConnectionError extends Error {}

export interface MllpClientOptions {
  host: string;
  port: number;
  tls?: ClientTls;
  connectTimeoutMs?: number;
}

/**
 * An MLLP client: one connection, one message in flight (as MLLP requires), each send waiting for
 * the reply frame. After a timeout the connection is dropped, so a late ACK can never be taken
 * for the answer to the next message. Reconnects on the next send.
 */
export class MllpClient {
  private readonly options: MllpClientOptions;
  private socket?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private decoder = new MllpDecoder();
  private waiter?: { resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: MllpClientOptions) {
    this.options = options;
  }

  /** Sends one message and resolves with the reply frame's bytes. */
  send(payload: Uint8Array | string, timeoutMs = 10_000): Promise<Buffer> {
    const run = this.chain.then(() => this.exchange(payload, timeoutMs));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async exchange(payload: Uint8Array | string, timeoutMs: number): Promise<Buffer> {
    const socket = await this.connect();
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.drop();
        reject(new MllpTimeoutError(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      socket.write(frame(payload));
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const { host, port } = this.options;
      const socket = this.options.tls
        ? tls.connect({ host, port, ...this.options.tls, servername: this.options.tls.servername ?? (net.isIP(host) ? undefined : host) })
        : net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new MllpConnectionError(`connecting to ${host}:${port} timed out`));
      }, this.options.connectTimeoutMs ?? 5_000);
      socket.setNoDelay(true);
      socket.once(this.options.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.decoder = new MllpDecoder();
        this.socket = socket;
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => {
        for (const f of this.decoder.push(chunk)) {
          const w = this.waiter;
          this.waiter = undefined;
          // A frame nobody waits for is a late or unsolicited reply: ignored.
          if (w) w.resolve(f.kind === 'frame' ? f.bytes : f.head);
        }
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(new MllpConnectionError(`${host}:${port}: ${err.message}`));
        this.failWaiter(new MllpConnectionError(`${host}:${port}: ${err.message}`));
      });
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.failWaiter(new MllpConnectionError(`${host}:${port} closed the connection`));
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private failWaiter(err: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  close(): void {
    this.drop();
  }
}
