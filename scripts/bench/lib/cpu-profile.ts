// Reading V8 CPU profiles (.cpuprofile, as `node --cpu-prof` writes them): where a server's time
// went, in a time window, beneath a function, or compared with another run. Used by
// scripts/bench/profile.ts; the profiles come from BENCH_CPU_PROF, BENCH_SERVER_NODE_ARGS or
// BENCH_AB_NODE_ARGS (see the benchmarks' headers).
import { readFileSync } from 'node:fs';
import type { Profiler, Runtime } from 'node:inspector';

/** One sample: the stack (leaf first) as function keys, when it was taken (s from the start), and its weight (ms). */
export interface Sample {
  stack: string[];
  at: number;
  ms: number;
}

/** A function as profiles name it: `name file:line` (the file's last two path segments). */
export function frameKey(frame: Runtime.CallFrame): string {
  const file = frame.url.split('/').slice(-2).join('/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

export function readProfile(path: string): Profiler.Profile {
  return JSON.parse(readFileSync(path, 'utf8')) as Profiler.Profile;
}

/** Every sample with its whole stack. A sample weighs the time until the next one. */
export function samples(profile: Profiler.Profile): Sample[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<number, string[]>();
  const stackOf = (id: number): string[] => {
    let stack = stacks.get(id);
    if (!stack) {
      stack = [];
      for (let c: number | undefined = id; c !== undefined; c = parent.get(c)) {
        const node = byId.get(c);
        // The synthetic root says nothing.
        if (node && node.callFrame.functionName !== '(root)') stack.push(frameKey(node.callFrame));
      }
      stacks.set(id, stack);
    }
    return stack;
  };
  const ids = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const out: Sample[] = [];
  let t = 0;
  for (let i = 0; i < ids.length; i++) {
    t += deltas[i] ?? 0;
    const next = deltas[i + 1] ?? deltas[i] ?? 0;
    out.push({ stack: stackOf(ids[i]), at: t / 1e6, ms: next / 1000 });
  }
  return out;
}

/** Whether a function key (frameKey) names the function `name`. */
function isFunction(key: string | undefined, name: string): boolean {
  return key?.startsWith(`${name} `) ?? false;
}

/** Samples in [from, to) seconds that were not idle, and beneath `under` when given (the stack from it down). */
export function select(all: Sample[], options: { from?: number; to?: number; under?: string } = {}): Sample[] {
  const out: Sample[] = [];
  for (const s of all) {
    if (s.at < (options.from ?? 0) || s.at >= (options.to ?? Number.POSITIVE_INFINITY) || isFunction(s.stack[0], '(idle)')) continue;
    if (options.under === undefined) {
      out.push(s);
      continue;
    }
    const at = s.stack.findLastIndex((k) => isFunction(k, options.under as string));
    if (at >= 0) out.push({ ...s, stack: s.stack.slice(0, at + 1) });
  }
  return out;
}

/** Milliseconds per function: its own (self) or with what it called (total, each function once per sample). */
export function byFunction(picked: Sample[], mode: 'self' | 'total'): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of picked) {
    const keys = mode === 'self' ? s.stack.slice(0, 1) : new Set(s.stack);
    for (const k of keys) out.set(k, (out.get(k) ?? 0) + s.ms);
  }
  return out;
}

/** Per second: busy milliseconds, garbage collection, and time beneath `mark` (a function name). */
export function timeline(all: Sample[], mark?: string): { second: number; busy: number; gc: number; marked: number }[] {
  const rows = new Map<number, { second: number; busy: number; gc: number; marked: number }>();
  for (const s of select(all)) {
    const second = Math.floor(s.at);
    let row = rows.get(second);
    if (!row) {
      row = { second, busy: 0, gc: 0, marked: 0 };
      rows.set(second, row);
    }
    row.busy += s.ms;
    if (isFunction(s.stack[0], '(garbage collector)')) row.gc += s.ms;
    if (mark && s.stack.some((k) => isFunction(k, mark))) row.marked += s.ms;
  }
  return [...rows.values()].sort((a, b) => a.second - b.second);
}

/** The call chains into `fn` (`depth` callers up), with their milliseconds. */
export function callers(picked: Sample[], fn: string, depth: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of picked) {
    const at = s.stack.findIndex((k) => isFunction(k, fn));
    if (at < 0) continue;
    const chain = s.stack.slice(at, at + depth + 1).join(' < ');
    out.set(chain, (out.get(chain) ?? 0) + s.ms);
  }
  return out;
}

/** The largest entries of a map, largest first. */
export function largest(m: Map<string, number>, limit: number): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, limit);
}
