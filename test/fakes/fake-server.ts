import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** How a fake answers the next requests: normally, or with one of the failures a vendor can produce. */
export type FakeFailure = 'none' | 'unauthorized' | 'server-error' | 'timeout';

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. /v3/mail/send */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface FakeReply {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON when not a string. */
  body?: unknown;
}

/** The vendor-specific part of a fake: the reply to one request that is not failed on purpose. */
export type FakeRoute = (req: RecordedRequest) => FakeReply;

export interface FakeServer {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  url: string;
  requests: RecordedRequest[];
  /** Applies to every request until changed (a `timeout` request is never answered). */
  failure: FakeFailure;
  waitFor(predicate: (requests: RecordedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, reply: FakeReply): void {
  const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...(reply.body !== undefined && typeof reply.body !== 'string' ? { 'content-type': 'application/json' } : {}),
    ...reply.headers,
  });
  res.end(body);
}

/**
 * A small local HTTP server standing in for a SaaS API in tests: it records every request and
 * answers through `route`, or fails on purpose as `failure` says (`failures` gives each vendor's
 * own error bodies).
 */
export async function startFakeServer(route: FakeRoute, failures: Record<'unauthorized' | 'server-error', FakeReply>): Promise<FakeServer> {
  let server: Server;
  const fake: FakeServer = {
    url: '',
    requests: [],
    failure: 'none',
    async waitFor(predicate, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (!predicate(fake.requests)) {
        if (Date.now() > end) throw new Error(`timed out waiting for requests (have ${fake.requests.length})`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body,
        receivedAt: Date.now(),
      };
      fake.requests.push(recorded);
      const failure = fake.failure;
      if (failure === 'timeout') {
        return; // never answered; close() drops the connection
      }
      answer(res, failure === 'none' ? route(recorded) : failures[failure]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  fake.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return fake;
}
