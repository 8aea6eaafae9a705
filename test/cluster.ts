// Several real server processes on one database, behind a small round-robin proxy: the test of
// horizontal scale (server/ops/scale.int.test.ts) and `npm run bench:scale` use it.
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../server/node-flags.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** A free local port (this module is also used outside vitest, by the scale benchmark). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/** How long an upstream that refused or reset a connection is skipped. */
const DOWN_MS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ServerChild {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess;
  alive(): boolean;
  /** SIGKILL: no shutdown, no goodbye (a crashed machine). */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

export interface ServerChildOptions {
  name: string;
  databaseUrl: string;
  admin: { clientId: string; clientSecret: string };
  /** The public URL all instances share (the proxy's): tokens name it as their issuer. */
  baseUrl: string;
  /** A fixed port (a restart that clients reach at the same address); a free one by default. */
  port?: number;
  /**
   * The audit journal root (AUDIT_JOURNAL_DIR). Instances and restarts of one cluster share it, so a
   * killed instance's records are recovered; the caller removes it with the cluster's database (a
   * killed instance leaves its segments there).
   */
  journalDir: string;
  env?: Record<string, string>;
}

/** `node server/index.ts` on a free port (or `options.port`), ready when /health/ready answers 200. */
export async function spawnServer(options: ServerChildOptions, timeoutMs = 90_000): Promise<ServerChild> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}/`;
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, 'server/index.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      BASE_URL: options.baseUrl,
      ADMIN_EMAIL: 'admin@example.org',
      ADMIN_PASSWORD: 'cluster-test-password',
      ADMIN_CLIENT_ID: options.admin.clientId,
      ADMIN_CLIENT_SECRET: options.admin.clientSecret,
      LOG_LEVEL: 'error',
      GRAPHQL_WARMUP: 'false',
      HL7_BRIDGE: 'false',
      DEPLOY_BOTS: 'false',
      RATE_LIMIT_PER_IP: '1000000',
      RATE_LIMIT_PER_CLIENT: '1000000',
      AUDIT_JOURNAL_DIR: options.journalDir,
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const child: ServerChild = {
    name: options.name,
    port,
    url,
    proc,
    alive,
    kill: async () => {
      if (!alive()) return;
      proc.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (!alive()) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive()) throw new Error(`${options.name} exited during start`);
    try {
      const res = await fetch(`${url}health/ready`);
      await res.arrayBuffer();
      if (res.ok) return child;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  await child.kill();
  throw new Error(`${options.name} did not become ready`);
}

export interface RoundRobinProxy {
  url: string;
  /** Requests sent to each upstream (by index). */
  forwarded: number[];
  close(): Promise<void>;
}

/**
 * A round-robin HTTP proxy. A refused connection means the upstream never saw the request, so it is
 * retried on the next upstream (like nginx `proxy_next_upstream error`); any other failure of an
 * upstream reaches the client as a 502, because a write may or may not have happened.
 */
export async function startRoundRobinProxy(
  upstreams: { port: number }[] = [],
): Promise<RoundRobinProxy & { upstreams: { port: number }[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const forwarded = upstreams.map(() => 0);
  const downUntil: number[] = [];
  let next = 0;
  /** The next upstream in turn, skipping ones that just failed (and `avoid`) while others remain. */
  const pick = (avoid?: number): number => {
    for (let k = 0; k < upstreams.length; k++) {
      const i = next++ % upstreams.length;
      if (i !== avoid && (downUntil[i] ?? 0) <= Date.now()) return i;
    }
    return avoid === undefined ? next++ % upstreams.length : (avoid + 1) % upstreams.length;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const attempt = (tries: number, avoid?: number) => {
        if (upstreams.length === 0) {
          res.writeHead(503).end();
          return;
        }
        const i = pick(avoid);
        forwarded[i] ??= 0;
        const up = http.request(
          { host: '127.0.0.1', port: upstreams[i].port, method: req.method, path: req.url, headers: req.headers, agent },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
            upRes.on('error', () => res.destroy());
          },
        );
        forwarded[i]++;
        up.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') downUntil[i] = Date.now() + DOWN_MS;
          if (err.code === 'ECONNREFUSED' && tries < upstreams.length) return attempt(tries + 1, i);
          if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end(`upstream failed: ${err.code ?? err.message}`);
          } else res.destroy();
        });
        up.end(body);
      };
      attempt(1);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${port}/`,
    upstreams,
    forwarded,
    close: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A client_credentials token through `baseUrl`. */
export async function clientToken(baseUrl: string, admin: { clientId: string; clientSecret: string }): Promise<string> {
  const res = await fetch(`${baseUrl}oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: admin.clientId, client_secret: admin.clientSecret }),
  });
  if (!res.ok) throw new Error(`token: HTTP ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
