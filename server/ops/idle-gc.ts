import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { boolFromEnv, intFromEnv } from '../config.ts';

/**
 * Gives memory back when the server goes idle after a burst of work.
 *
 * V8 collects its old generation only when the heap has grown by a factor since the last
 * mark-compact, so after a load the heap holds ~100 MB of garbage that nothing will collect while
 * no request allocates (V8's own memory reducer, which would, is off: server/node-flags.ts). The
 * Buffers of that garbage (sockets, pg results) also pin malloc'd memory, which glibc can only
 * give back once they are freed. One full collection when the process has gone idle returns
 * both: measured with `npm run bench:fhir` (docs/operations.md, Memory).
 *
 * "Idle" means no request answered and the event loop (performance.eventLoopUtilization) ≤ 5 %
 * busy, so background work — the audit indexing after a load, bots, subscription delivery, the
 * HL7 bridge — counts as activity too. The request count matters on a slow or starved machine:
 * a server waiting on PostgreSQL for 30 requests a second has an almost idle event loop, and
 * without it was collected every few seconds during load (+50 % CPU in an A/B run). A collection
 * runs only when the heap has grown since the previous one (so an idle server is not collected
 * again and again) and only after `idleChecks` consecutive quiet intervals.
 *
 * Why the quiet period is long (30 s): a full collection of an idle server throws away the
 * optimised code of its request path. Some objects that optimised code embeds live only while
 * requests flow; between bursts they are dead, and a full collection clears them and deoptimises
 * every function that embedded one — 100–160 functions per collection (`node --trace-deopt`,
 * reason "embedded weak objects cleared"), whether the collection is a `regular` or a
 * `last-resort` one. V8's own collections, which run under load while those objects live, do
 * not. The next burst then runs unoptimised
 * code until V8 has compiled it again: its first second read at about half of its full speed, and
 * it took about 5 s to get there (`npm run bench:idle`; docs/benchmarks.md, stop 32).
 * So a pause of a few seconds between bursts must not count as idle; a server quiet for half a
 * minute has gone idle, and gives its memory back. Its pause (a memory-reducing collection: 3–4 ×
 * a plain one) falls on a process that has had nothing to do for `intervalMs * idleChecks`; a
 * request arriving during it waits that long once.
 */
export interface IdleGcOptions {
  /** Sampling interval of the event loop's utilization, in ms. */
  intervalMs: number;
  /** Consecutive quiet intervals before a collection. */
  idleChecks: number;
  /** An interval whose event-loop utilization is at most this (0–1) is quiet. */
  maxUtilization: number;
  /** Growth of V8's used heap since the last collection (MB) that makes one worthwhile. */
  minGrowthMb: number;
}

/**
 * Thirty quiet seconds (see above): the audit indexing that follows a load counts as activity, so
 * they start when that work is done.
 */
export const IDLE_GC_DEFAULTS: IdleGcOptions = { intervalMs: 1000, idleChecks: 30, maxUtilization: 0.05, minGrowthMb: 16 };

/**
 * The collector's options for a process's environment, or undefined when `IDLE_GC=false` leaves
 * collection to V8. `IDLE_GC_QUIET_SECONDS` sets the quiet period (whole seconds, at least 1): an
 * operator short of memory may trade the warm-up after each pause for less resident memory.
 */
export function idleGcFromEnv(env: NodeJS.ProcessEnv): IdleGcOptions | undefined {
  if (boolFromEnv(env.IDLE_GC, 'IDLE_GC') === false) return undefined;
  const seconds = intFromEnv(env.IDLE_GC_QUIET_SECONDS, 'IDLE_GC_QUIET_SECONDS');
  if (seconds === undefined) return IDLE_GC_DEFAULTS;
  if (seconds < 1) throw new Error(`IDLE_GC_QUIET_SECONDS must be at least 1, got "${env.IDLE_GC_QUIET_SECONDS}"`);
  return { ...IDLE_GC_DEFAULTS, idleChecks: Math.round((seconds * 1000) / IDLE_GC_DEFAULTS.intervalMs) };
}

/** How long the process must be quiet before it collects, in ms. */
export const quietPeriodMs = (options: IdleGcOptions): number => options.intervalMs * options.idleChecks;

/** What the policy reads at each interval. */
export interface IdleSample {
  /** Event-loop utilization over the last interval (0–1). */
  utilization: number;
  /** Requests answered during the last interval. */
  requests: number;
  /** V8 heap in use now, in bytes. */
  heapUsedBytes: number;
}

/**
 * The decision alone, as a pure state machine (tested without timers or a real heap): call
 * `sample()` once per interval; it answers whether to collect now.
 */
export class IdleGcPolicy {
  private readonly options: IdleGcOptions;
  private quiet = 0;
  private baseline: number;

  constructor(options: IdleGcOptions, heapUsedBytes: number) {
    this.options = options;
    this.baseline = heapUsedBytes;
  }

  sample(s: IdleSample): boolean {
    if (s.utilization > this.options.maxUtilization || s.requests > 0) {
      this.quiet = 0;
      return false;
    }
    this.quiet++;
    return this.quiet >= this.options.idleChecks && s.heapUsedBytes - this.baseline >= this.options.minGrowthMb * 1024 * 1024;
  }

  /** After a collection: the heap it left is the new baseline; quiet intervals count anew. */
  collected(heapUsedBytes: number): void {
    this.baseline = heapUsedBytes;
    this.quiet = 0;
  }
}

/** The options V8's `gc` extension understands (v8/src/extensions/gc-extension.cc). */
interface GcOptions {
  type?: 'minor' | 'major';
  execution?: 'sync' | 'async';
  flavor?: 'regular' | 'last-resort';
}

/**
 * A memory-reducing collection ('last-resort': V8 collects until nothing more is freed and then
 * shrinks the young generation). A plain full collection leaves the young generation at the size
 * the load grew it to, up to 3 × the maximum semi-space (tens of MB of RSS that nothing uses while
 * idle); measured on a synthetic heap, 394 MB RSS after a plain collection, 69 MB after this one.
 */
const IDLE_COLLECTION: GcOptions = { type: 'major', execution: 'sync', flavor: 'last-resort' };

/**
 * V8's `gc` function without exposing it to the rest of the process: the flag is set only long
 * enough for a fresh context to receive it (the way Jest's leak detector obtains it), then unset,
 * so `globalThis.gc` stays undefined for the server's and its dependencies' code.
 */
function obtainGc(): (options?: GcOptions) => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as (options?: GcOptions) => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

export interface IdleGcHandle {
  /** Collections run so far (for the metrics and tests). */
  readonly collections: number;
  stop(): void;
}

/** Starts the idle collector for this process (the process entry calls it once). */
export function startIdleGc(
  options: IdleGcOptions,
  /** Requests answered so far (a counter). */
  requestsAnswered: () => number,
  onCollect?: (info: { ms: number; freedBytes: number }) => void,
): IdleGcHandle {
  const gc = obtainGc();
  // Baseline 0: the first quiet moment also collects what start-up left (parsed definitions,
  // migrations), which V8 may otherwise keep until the first load.
  const policy = new IdleGcPolicy(options, 0);
  let last = performance.eventLoopUtilization();
  let collections = 0;
  let answered = requestsAnswered();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const heapUsedBytes = getHeapStatistics().used_heap_size;
    const nowAnswered = requestsAnswered();
    const requests = nowAnswered - answered;
    answered = nowAnswered;
    if (!policy.sample({ utilization, requests, heapUsedBytes })) return;
    const t0 = performance.now();
    gc(IDLE_COLLECTION);
    const after = getHeapStatistics().used_heap_size;
    collections++;
    policy.collected(after);
    // The collection itself is event-loop work: start the next interval after it.
    last = performance.eventLoopUtilization();
    onCollect?.({ ms: performance.now() - t0, freedBytes: heapUsedBytes - after });
  }, options.intervalMs);
  // Never keeps the process alive on its own.
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
