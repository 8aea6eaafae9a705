import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ServerTls } from '../config.ts';
import { type DecodedFrame, frame, MllpDecoder } from './framing.ts';

export interface Connection {
  id: number;
  remote: string;
  /** The TLS client certificate's subject CN, when mutual TLS is on. */
  peerName?: string;
}

/**
 * Answers one frame with the bytes to send back (undefined: send nothing). Rejecting means the
 * message could not be made durable: the connection is then closed without an ACK, so the sender
 * resends — never an ACK for something that was not stored.
 */
export type FrameHandler = (frame: DecodedFrame, connection: Connection) => Promise<Uint8Array | undefined>;

export interface MllpServerOptions {
  port: number;
  host?: string;
  tls?: ServerTls;
  maxConnections?: number;
  maxFrameBytes?: number;
  /** Close connections silent for this long (0 = never; legacy senders keep connections open). */
  idleTimeoutSeconds?: number;
  /** Frames a connection may have awaiting their reply before reading pauses. */
  maxInflight?: number;
  logger: Logger;
}

export interface MllpServerStats {
  connections: number;
  connectionsTotal: number;
  frames: number;
  strayBytes: number;
  abandonedFrames: number;
  oversizedFrames: number;
  handlerFailures: number;
}

/**
 * An MLLP listener over TCP or TLS with many concurrent connections. Frames of one connection are
 * handled concurrently (so a burst shares one group commit) but answered strictly in order.
 */
export class MllpServer {
  readonly stats: MllpServerStats = {
    connections: 0,
    connectionsTotal: 0,
    frames: 0,
    strayBytes: 0,
    abandonedFrames: 0,
    oversizedFrames: 0,
    handlerFailures: 0,
  };
  private readonly options: MllpServerOptions;
  private readonly handler: FrameHandler;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly inflight = new Map<net.Socket, Promise<unknown>>();
  private nextId = 1;

  constructor(options: MllpServerOptions, handler: FrameHandler) {
    this.options = options;
    this.handler = handler;
    const onConnection = (socket: net.Socket) => this.accept(socket);
    this.server = options.tls
      ? tls.createServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            ca: options.tls.ca,
            requestCert: options.tls.requestCert,
            rejectUnauthorized: options.tls.requestCert,
          },
          onConnection,
        )
      : net.createServer(onConnection);
    this.server.maxConnections = options.maxConnections ?? 256;
    this.server.on('tlsClientError', (err: Error) => options.logger.warn({ err: err.message }, 'MLLP TLS handshake failed'));
  }

  /** Starts listening; resolves with the port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host ?? '0.0.0.0', () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.options.port);
      });
    });
  }

  private accept(socket: net.Socket): void {
    const { logger } = this.options;
    const connection: Connection = { id: this.nextId++, remote: `${socket.remoteAddress}:${socket.remotePort}` };
    if (socket instanceof tls.TLSSocket) {
      const cn = socket.getPeerCertificate()?.subject?.CN;
      if (cn) connection.peerName = Array.isArray(cn) ? cn.join(',') : cn;
    }
    this.sockets.add(socket);
    this.stats.connections++;
    this.stats.connectionsTotal++;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    if (this.options.idleTimeoutSeconds) {
      socket.setTimeout(this.options.idleTimeoutSeconds * 1000, () => socket.destroy());
    }
    const decoder = new MllpDecoder(this.options.maxFrameBytes);
    const maxInflight = this.options.maxInflight ?? 64;
    let waiting = 0;
    // Replies are written in frame order whatever order the handler finishes in.
    let tail: Promise<unknown> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      const before = { ...decoder.stats };
      const frames = decoder.push(chunk);
      this.stats.strayBytes += decoder.stats.strayBytes - before.strayBytes;
      this.stats.abandonedFrames += decoder.stats.abandoned - before.abandoned;
      for (const f of frames) {
        this.stats.frames++;
        if (f.kind === 'oversized') this.stats.oversizedFrames++;
        waiting++;
        if (waiting >= maxInflight) socket.pause();
        const reply = this.handler(f, connection);
        tail = tail.then(async () => {
          try {
            const bytes = await reply;
            if (bytes && !socket.destroyed) socket.write(frame(bytes));
          } catch (err) {
            this.stats.handlerFailures++;
            logger.error({ err, remote: connection.remote }, 'MLLP frame not stored: closing the connection without an ACK');
            socket.destroy();
          } finally {
            waiting--;
            if (waiting < maxInflight && socket.isPaused() && !socket.destroyed) socket.resume();
          }
        });
        this.inflight.set(socket, tail);
      }
    });
    socket.on('error', (err) => logger.debug({ err: err.message, remote: connection.remote }, 'MLLP connection error'));
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.inflight.delete(socket);
      this.stats.connections--;
      if (decoder.pending) logger.debug({ remote: connection.remote }, 'MLLP connection closed inside a frame');
    });
  }

  /** Stops accepting, lets frames in progress be answered (up to graceMs), then closes every connection. */
  async close(graceMs = 5_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.allSettled([...this.inflight.values()]), deadline]);
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
