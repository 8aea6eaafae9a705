import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { type PoolOptions, type PoolResult, WorkerPool } from './pool.ts';

// A bot that waits until the test raises a shared flag (when asked to), then returns the flag and
// its name: the order of events is decided by the test, not by timing.
const CODE = `exports.handler = async (medplum, event) => {
  const flag = new Int32Array(event.input.flag);
  while (event.input.wait && Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 5));
  return { name: event.input.name, flag: Atomics.load(flag, 0) };
};`;

const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function newPool(options: Partial<PoolOptions>): WorkerPool {
  const pool = new WorkerPool(
    { minWorkers: 0, maxWorkers: 1, reserveWorkers: 0, nice: 0, memoryMb: 64, idleWorkerMs: 0, ...options },
    pino({ level: 'silent' }),
  );
  pools.push(pool);
  return pool;
}

function run(pool: WorkerPool, flag: SharedArrayBuffer, name: string, priority: number, wait = false): Promise<PoolResult> {
  return pool.run(
    {
      codeKey: 'test-bot/1',
      filename: 'test-bot.js',
      baseUrl: 'http://127.0.0.1:1/',
      accessToken: 'unused',
      logLimit: 1000,
      event: { bot: { reference: 'Bot/test' }, contentType: 'application/json', input: { flag, name, wait }, secrets: {} },
    },
    CODE,
    60_000,
    priority,
  );
}

describe('WorkerPool priorities', () => {
  test('an execution of a higher priority waiting for a worker goes before routine ones that came first', async () => {
    const pool = newPool({ maxWorkers: 1 });
    const flag = new SharedArrayBuffer(4);
    const finished: string[] = [];
    const track = (p: Promise<PoolResult>) =>
      p.then((r) => finished.push((r.returnValue as { name: string } | undefined)?.name ?? `error: ${r.error}`));
    // The worker is started and idle, so the blocker takes it at once and the others wait.
    expect((await run(pool, flag, 'warm-up', 0)).ok).toBe(true);
    const blocker = track(run(pool, flag, 'blocker', 0, true));
    const routine = track(run(pool, flag, 'routine', 0));
    const stat = track(run(pool, flag, 'stat', 3));
    const urgent = track(run(pool, flag, 'urgent', 1));
    expect(pool.stats().queued).toBe(3);
    Atomics.store(new Int32Array(flag), 0, 1);
    await Promise.all([blocker, routine, stat, urgent]);
    expect(finished).toEqual(['blocker', 'stat', 'urgent', 'routine']);
  });

  test('the reserve worker runs an urgent execution while routine work fills maxWorkers, never a routine one', async () => {
    const pool = newPool({ maxWorkers: 1, reserveWorkers: 1 });
    const flag = new SharedArrayBuffer(4);
    const blocker = run(pool, flag, 'blocker', 0, true);
    await vi.waitFor(() => expect(pool.stats().busy).toBe(1), { timeout: 30_000 });
    // The urgent execution finishes while the routine one still holds the only routine worker.
    const urgent = await run(pool, flag, 'urgent', 2);
    expect(urgent.ok).toBe(true);
    expect(urgent.returnValue).toEqual({ name: 'urgent', flag: 0 });
    // A routine execution waits, although the reserve worker is idle now.
    const routine = run(pool, flag, 'routine', 0);
    expect(pool.stats()).toMatchObject({ workers: 2, busy: 1, queued: 1 });
    Atomics.store(new Int32Array(flag), 0, 1);
    expect((await blocker).returnValue).toEqual({ name: 'blocker', flag: 1 });
    // It ran only after the flag was raised, i.e. after the blocker released the routine worker.
    expect((await routine).returnValue).toEqual({ name: 'routine', flag: 1 });
  });

  test('routine work filling maxWorkers starts the reserve spare only while urgent executions are expected', async () => {
    const pool = newPool({ maxWorkers: 1, reserveWorkers: 1 });
    const flag = new SharedArrayBuffer(4);
    const blocker = run(pool, flag, 'blocker', 0, true);
    await vi.waitFor(() => expect(pool.stats().busy).toBe(1), { timeout: 30_000 });
    // No urgent subscription: a worker only an urgent execution could use would just cost a thread.
    expect(pool.stats().workers).toBe(1);
    pool.expectUrgent(true);
    expect(pool.stats().workers).toBe(2);
    // An urgent execution then starts on it while the routine one still holds its worker.
    const urgent = await run(pool, flag, 'urgent', 3);
    expect(urgent.returnValue).toEqual({ name: 'urgent', flag: 0 });
    Atomics.store(new Int32Array(flag), 0, 1);
    expect((await blocker).returnValue).toEqual({ name: 'blocker', flag: 1 });
  });
});

describe('WorkerPool growth', () => {
  test('a burst grows the pool one starting worker at a time, up to maxWorkers', { timeout: 60_000 }, async () => {
    const pool = newPool({ maxWorkers: 3 });
    const flag = new SharedArrayBuffer(4);
    const burst = ['a', 'b', 'c'].map((name) => run(pool, flag, name, 0, true));
    // Three executions wait, but only one worker starts: each start costs the CPU the burst needs.
    expect(pool.stats()).toMatchObject({ workers: 1, starting: 1, busy: 0, queued: 3 });
    let mostStarting = 0;
    await vi.waitFor(
      () => {
        mostStarting = Math.max(mostStarting, pool.stats().starting);
        expect(pool.stats().busy).toBe(3);
      },
      { timeout: 30_000, interval: 1 },
    );
    expect(mostStarting).toBe(1);
    Atomics.store(new Int32Array(flag), 0, 1);
    expect((await Promise.all(burst)).map((r) => (r.returnValue as { name: string }).name)).toEqual(['a', 'b', 'c']);
  });
});

describe('WorkerPool compile cache', () => {
  test("a worker keeps the modules it compiled in the pool's compile cache directory, for the next one", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'es-bot-cache-'));
    try {
      const pool = newPool({ compileCacheDir: dir });
      expect((await run(pool, new SharedArrayBuffer(4), 'first', 0)).ok).toBe(true);
      const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      // An entry per module the worker loaded after its entry: worker.ts, sandbox-modules.ts, @medplum/core, ...
      expect(files.length).toBeGreaterThanOrEqual(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The nice value of each thread of this process (Linux: /proc/self/task/<tid>/stat, field 19). */
function threadNice(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

describe('WorkerPool threads', () => {
  test.runIf(process.platform === 'linux')(
    "workers run at the nice value they were given, the process's other threads at theirs",
    async () => {
      const before = threadNice();
      expect([...before.values()]).not.toContain(7);
      const pool = newPool({ maxWorkers: 1, nice: 7 });
      expect((await run(pool, new SharedArrayBuffer(4), 'warm-up', 0)).ok).toBe(true);
      const after = threadNice();
      const lowered = [...after].filter(([, nice]) => nice === 7).map(([tid]) => tid);
      expect(lowered).toHaveLength(1);
      expect(before.has(lowered[0])).toBe(false);
      // The main thread (its id is the process id) keeps its own.
      expect(after.get(process.pid)).toBe(before.get(process.pid));
    },
  );
});
