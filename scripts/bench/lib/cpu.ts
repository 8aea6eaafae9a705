// Who used the CPU during a phase: the server process, PostgreSQL, the load generator (this
// process) and everything else on the machine (other users' builds and tests skew results).
import { readdirSync, readFileSync } from 'node:fs';
import { log } from './table.ts';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function procTicks(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command: utime is field 14, stime 15 (1-based).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** The benchmark's database: backends serving other databases (other people's tests) count as "other". */
let benchDatabase: string | undefined;
export function setBenchDatabase(name: string): void {
  benchDatabase = name;
}

const BACKEND_RE = /^postgres: [^:]+: \S+ (\S+) \S+\(\d+\)/;

/** CPU ticks of each PostgreSQL process: background processes plus backends of the benchmark database. */
function postgresTicks(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'postgres') continue;
      const db = BACKEND_RE.exec(readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' '))?.[1];
      if (!benchDatabase || !db || db === benchDatabase) ticks.set(name, procTicks(name));
    } catch {
      // process went away
    }
  }
  return ticks;
}

/** Busy ticks of the whole machine (all cores): user, nice, system, irq, softirq, steal. */
function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return user + nice + system + irq + softirq + (steal || 0);
}

export interface CpuSnapshot {
  at: number;
  server: number;
  /** Ticks of each PostgreSQL process alive at the snapshot (compare two with postgresTicksBetween). */
  postgres: Map<string, number>;
  self: number;
  machine: number;
}

export function cpuSnapshot(serverPid: number | undefined): CpuSnapshot {
  const u = process.cpuUsage();
  return {
    at: performance.now(),
    server: serverPid ? procTicks(serverPid) : 0,
    postgres: postgresTicks(),
    self: (u.user + u.system) / 1e6,
    machine: machineBusyTicks(),
  };
}

/** CPU use between two snapshots, in percent of one core (100% = one core busy). */
export interface CpuUse {
  server: number;
  postgres: number;
  loader: number;
  /** Everything else on the machine. */
  other: number;
}

/**
 * PostgreSQL's ticks between two snapshots, per process: a backend that ended in between (a pool's
 * idle connection) took its ticks along, and subtracting totals made PostgreSQL's share negative.
 */
export function postgresTicksBetween(a: CpuSnapshot, b: CpuSnapshot): number {
  let ticks = 0;
  for (const [pid, t] of b.postgres) ticks += t - (a.postgres.get(pid) ?? 0);
  return ticks;
}

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const secs = (b.at - a.at) / 1000;
  const pct = (ticks: number) => (ticks / TICKS_PER_SECOND / secs) * 100;
  const server = pct(b.server - a.server);
  const postgres = pct(postgresTicksBetween(a, b));
  const loader = ((b.self - a.self) / secs) * 100;
  const machine = pct(b.machine - a.machine);
  return { server, postgres, loader, other: Math.max(0, machine - server - postgres - loader) };
}

export const fmtCpu = (c: CpuUse | undefined): string =>
  c ? `${c.server.toFixed(0)} / ${c.postgres.toFixed(0)} / ${c.loader.toFixed(0)} / ${c.other.toFixed(0)}` : '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (at most `maxSeconds`) until processes other than ours use less than `maxOtherPct` of
 * one core, so a phase does not start while someone else's build or test run is busy.
 */
export async function waitForQuiet(serverPid: number | undefined, maxSeconds: number, maxOtherPct = 25): Promise<number> {
  const t0 = performance.now();
  let other = 0;
  for (;;) {
    const a = cpuSnapshot(serverPid);
    await sleep(1000);
    other = cpuBetween(a, cpuSnapshot(serverPid)).other;
    if (other < maxOtherPct) return other;
    if (performance.now() - t0 > maxSeconds * 1000) {
      log(`machine still busy (other processes at ${other.toFixed(0)}% of a core); continuing anyway`);
      return other;
    }
  }
}

/**
 * Waits (at most `maxSeconds`) until the server process has been nearly idle for `quietSeconds`
 * in a row: it may start background work after /healthcheck answers (e.g. building the GraphQL
 * schema a few seconds after start), which would otherwise land in the first measurement.
 */
export async function waitServerSettled(
  serverPid: number,
  maxSeconds: number,
  quietSeconds = 4,
  maxPct = 15,
): Promise<{ seconds: number; busySeconds: number; settled: boolean }> {
  const t0 = performance.now();
  let quiet = 0;
  let busySeconds = 0;
  for (;;) {
    const a = cpuSnapshot(serverPid);
    await sleep(1000);
    const used = cpuBetween(a, cpuSnapshot(serverPid)).server;
    busySeconds += used / 100;
    quiet = used < maxPct ? quiet + 1 : 0;
    const seconds = (performance.now() - t0) / 1000;
    if (quiet >= quietSeconds) return { seconds: seconds - quietSeconds, busySeconds, settled: true };
    if (seconds > maxSeconds) {
      log(`server still busy after ${maxSeconds}s (${used.toFixed(0)}% of a core); continuing`);
      return { seconds, busySeconds, settled: false };
    }
  }
}
