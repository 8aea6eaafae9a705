import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../../../server/node-flags.ts';
import { onCleanup } from './cleanup.ts';
import { assertLocal } from './pg.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let journalDir: string | undefined;
/**
 * The audit journal folder of this benchmark's servers: not the repository's ./data, one per
 * benchmark process (a restarted server finds what a killed one left), removed at the end, so a
 * killed server's segment does not outlive the scratch database it belongs to.
 */
export function benchJournalDir(): string {
  if (!journalDir) {
    const dir = mkdtempSync(join(tmpdir(), 'es-bench-audit-journal-'));
    onCleanup('remove the audit journal folder', () => rmSync(dir, { recursive: true, force: true }));
    journalDir = dir;
  }
  return journalDir;
}

export interface ServerProcess {
  pid: number;
  port: number;
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** http://127.0.0.1:<port>/fhir/R4/ */
  fhirUrl: string;
  /** Milliseconds from spawn until /healthcheck first answered 200. */
  startToHealthyMs: number;
  /** Last lines the server printed (for diagnostics). */
  output(): string;
  /** SIGTERM, wait for exit (SIGKILL after timeoutMs); resolves with milliseconds until exit. */
  stop(timeoutMs?: number): Promise<number>;
}

export interface StartOptions {
  databaseUrl: string;
  port?: number;
  logLevel?: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  /** Give up waiting for health after this long. */
  timeoutMs?: number;
  /** Extra environment (e.g. first-start admin credentials, rate limits). */
  env?: Record<string, string>;
  /** The script to run, relative to the repository (default server/index.ts). */
  entry?: string;
}

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

/** One GET; resolves with the status code, or 0 when the connection fails. */
export function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `node server/index.ts` (or `entry`) as a child process on 127.0.0.1 and waits until /healthcheck answers 200. */
export async function startServerProcess(options: StartOptions): Promise<ServerProcess> {
  assertLocal(options.databaseUrl);
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}/`;
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  const t0 = performance.now();
  // The flags the server is always started with (server/node-flags.ts), then the benchmark's own.
  const args = [...SERVER_NODE_FLAGS, ...(options.nodeArgs ?? []), options.entry ?? 'server/index.ts'];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      BASE_URL: url,
      LOG_LEVEL: options.logLevel ?? 'warn',
      // A benchmark measures its own load: no demo hospital loading in the background.
      SEED: 'false',
      AUDIT_JOURNAL_DIR: process.env.AUDIT_JOURNAL_DIR ?? benchJournalDir(),
      // As `npm start`, the container image and the k8s Deployment run the server (docs/operations.md).
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
      MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? '131072',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    });
  });
  const unregister = onCleanup(`stop server pid ${child.pid}`, async () => {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (exitCode === undefined) child.kill('SIGKILL');
    }
  });

  const output = () => lines.join('\n');
  const deadline = t0 + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exitCode !== undefined) {
      unregister();
      throw new Error(`server exited with code ${exitCode} before becoming healthy:\n${output()}`);
    }
    if ((await httpStatus(`${url}healthcheck`, 500)) === 200) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      unregister();
      throw new Error(`server not healthy after ${options.timeoutMs ?? 60_000} ms:\n${output()}`);
    }
    await sleep(10);
  }
  const startToHealthyMs = performance.now() - t0;

  return {
    pid: child.pid as number,
    port,
    url,
    fhirUrl: `${url}fhir/R4/`,
    startToHealthyMs,
    output,
    stop: async (timeoutMs = 15_000) => {
      const s = performance.now();
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(timeoutMs)]);
        if (exitCode === undefined) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      unregister();
      return performance.now() - s;
    },
  };
}

/** VmRSS and VmHWM (peak) of a process, in kB. */
export function readMemoryKb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/**
 * Idle collections the server has run so far (emergisphere_idle_gc_duration_seconds_count): each
 * deoptimises its request path, so a benchmark that compares servers says how many each ran.
 */
export async function readIdleCollections(server: ServerProcess): Promise<number | undefined> {
  const text = await readMetrics(server);
  const count = text && /^emergisphere_idle_gc_duration_seconds_count(?:\{\})? (\S+)$/m.exec(text)?.[1];
  return count ? Number(count) : undefined;
}

/** The server's /metrics page, or undefined when it does not answer. */
export async function readMetrics(server: ServerProcess): Promise<string | undefined> {
  const res = await fetch(`${server.url}metrics`).catch(() => undefined);
  return res?.ok ? res.text() : undefined;
}
