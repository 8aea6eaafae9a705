import http from 'node:http';
import autocannon, { type AutocannonRequest, type AutocannonResult } from 'autocannon';
import { log } from './table.ts';

/** What one measured load phase produced. */
export interface LoadResult {
  name: string;
  connections: number;
  seconds: number;
  /** Successful (2xx) responses. */
  ok: number;
  /** Non-2xx responses plus connection errors and timeouts. */
  failed: number;
  statusCodes: Record<string, number>;
  rps: number;
  p50: number;
  p90: number;
  p95?: number;
  p99: number;
  max: number;
  mean: number;
  /** Latency resolution: autocannon records whole milliseconds. */
  resolution: string;
}

export interface AutocannonPhase {
  name: string;
  /** Base URL of the server, e.g. http://127.0.0.1:1234/ */
  url: string;
  connections: number;
  seconds: number;
  /** Requests, one of which is picked in turn; use setupRequest to vary path/body per request. */
  requests: AutocannonRequest[];
  timeoutSec?: number;
}

/** Runs autocannon for a bounded time; stops it forcibly if it overruns. */
export function runAutocannon(phase: AutocannonPhase): Promise<LoadResult> {
  if (!phase.url.startsWith('http://127.0.0.1:')) {
    throw new Error(`load target must be http://127.0.0.1: (got ${phase.url})`);
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const instance = autocannon(
      {
        url: phase.url,
        connections: phase.connections,
        pipelining: 1,
        duration: phase.seconds,
        timeout: phase.timeoutSec ?? 30,
        requests: phase.requests,
      },
      (err, result: AutocannonResult) => {
        clearTimeout(guard);
        if (settled) return;
        settled = true;
        if (err) {
          reject(err);
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = v.count;
        const ok = result['2xx'];
        const failed = result.non2xx + result.errors + result.timeouts;
        resolve({
          name: phase.name,
          connections: phase.connections,
          seconds: result.duration,
          ok,
          failed,
          statusCodes,
          rps: ok / result.duration,
          p50: result.latency.p50,
          p90: result.latency.p90,
          p99: result.latency.p99,
          max: result.latency.max,
          mean: result.latency.mean,
          resolution: '1 ms',
        });
      },
    );
    // Hard bound: a phase never runs longer than its duration plus a grace period.
    const guard = setTimeout(
      () => {
        log(`phase "${phase.name}" overran; stopping it`);
        instance.stop();
      },
      (phase.seconds + 30) * 1000,
    );
  });
}

/** Exact percentile of a sorted array (nearest-rank). */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface HttpLoadOptions {
  name: string;
  /** Base URL, e.g. http://127.0.0.1:1234/fhir/R4/ */
  baseUrl: string;
  concurrency: number;
  seconds: number;
  /** Hard cap on requests (bounds the loop and the latency buffer). */
  maxRequests: number;
  /** Path (relative to baseUrl) of the n-th request. */
  path: (n: number) => string;
  /** Extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
  /** Called with the body of the first `inspect` successful responses. */
  inspect?: { count: number; fn: (body: string) => void };
}

/**
 * A small keep-alive HTTP load loop with exact (sub-millisecond) latencies: `concurrency`
 * sequential clients, each sending its next request when the previous answer is complete.
 */
export async function httpLoad(o: HttpLoadOptions): Promise<LoadResult> {
  if (!o.baseUrl.startsWith('http://127.0.0.1:')) {
    throw new Error(`load target must be http://127.0.0.1: (got ${o.baseUrl})`);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const latencies = new Float64Array(o.maxRequests);
  const statusCodes: Record<string, number> = {};
  let n = 0;
  let recorded = 0;
  let ok = 0;
  let failed = 0;
  let inspected = 0;
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;

  const one = (path: string, wantBody: boolean): Promise<number> =>
    new Promise((resolve) => {
      const req = http.get(
        `${o.baseUrl}${path}`,
        { agent, headers: { accept: 'application/fhir+json', ...o.headers }, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            if (wantBody) chunks.push(c);
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (wantBody && status === 200 && o.inspect) o.inspect.fn(Buffer.concat(chunks).toString('utf8'));
            resolve(status);
          });
          res.on('error', () => resolve(0));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });

  const worker = async () => {
    while (n < o.maxRequests && performance.now() < deadline) {
      const i = n++;
      const wantBody = !!o.inspect && inspected < o.inspect.count;
      if (wantBody) inspected++;
      const s = performance.now();
      const status = await one(o.path(i), wantBody);
      const ms = performance.now() - s;
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        ok++;
        latencies[recorded++] = ms;
      } else {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const sorted = latencies.slice(0, recorded).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    name: o.name,
    connections: o.concurrency,
    seconds,
    ok,
    failed,
    statusCodes,
    rps: ok / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    mean: recorded ? sum / recorded : Number.NaN,
    resolution: '0.001 ms',
  };
}
