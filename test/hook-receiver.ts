import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  body: string;
  resource: { resourceType: string; id: string; meta?: { versionId?: string } } & Record<string, unknown>;
  receivedAt: number;
}

/** A local rest-hook endpoint that records every POST; `status` decides the answer. */
export interface HookReceiver {
  url: string;
  received: ReceivedHook[];
  status: (hook: ReceivedHook) => number;
  /** Milliseconds to wait before answering (a slow endpoint). */
  delay: (hook: ReceivedHook) => number;
  /** A promise to wait for before answering (an endpoint held until the test releases it). */
  hold: (hook: ReceivedHook) => Promise<void> | undefined;
  /** Most requests for one resource version that were in progress at the same time. */
  maxParallelPerVersion: number;
  waitFor(predicate: (all: ReceivedHook[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHookReceiver(): Promise<HookReceiver> {
  const received: ReceivedHook[] = [];
  let server: Server;
  const receiver: HookReceiver = {
    url: '',
    received,
    status: () => 200,
    delay: () => 0,
    hold: () => undefined,
    maxParallelPerVersion: 0,
    async waitFor(predicate, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > end) throw new Error(`timed out waiting for hooks (have ${received.length})`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const open = new Map<string, number>();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const hook: ReceivedHook = { headers: req.headers, body, resource: body ? JSON.parse(body) : {}, receivedAt: performance.now() };
      received.push(hook);
      const key = `${req.headers['x-medplum-subscription']}|${hook.resource.meta?.versionId}`;
      open.set(key, (open.get(key) ?? 0) + 1);
      receiver.maxParallelPerVersion = Math.max(receiver.maxParallelPerVersion, open.get(key) ?? 0);
      const answer = () => {
        open.set(key, (open.get(key) ?? 1) - 1);
        res.statusCode = receiver.status(hook);
        res.end();
      };
      const ms = receiver.delay(hook);
      const held = receiver.hold(hook);
      if (held) void held.then(answer);
      else if (ms > 0) setTimeout(answer, ms);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  receiver.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;
  return receiver;
}
