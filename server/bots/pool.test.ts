import pino from 'pino';
import { afterEach, expect, test, vi } from 'vitest';
import { type PoolOptions, WorkerPool } from './pool.ts';

// A bot that holds its worker for a moment, so concurrent executions need one worker each.
const CODE = 'exports.handler = async (medplum, event) => { await new Promise((r) => setTimeout(r, 200)); return event.input; };';
const pools: WorkerPool[] = [];

function pool(options: Partial<PoolOptions>): WorkerPool {
  const p = new WorkerPool({ minWorkers: 0, maxWorkers: 3, memoryMb: 64, idleWorkerMs: 300, ...options }, pino({ level: 'silent' }));
  pools.push(p);
  p.start();
  return p;
}

function run(p: WorkerPool, input: number) {
  return p.run(
    {
      codeKey: 'test-bot/1',
      filename: 'test-bot.js',
      baseUrl: 'http://127.0.0.1:1/',
      accessToken: 'not-used',
      logLimit: 1000,
      event: { bot: { reference: 'Bot/test' }, contentType: 'application/json', input, secrets: {} },
    },
    CODE,
    30_000,
  );
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

test('a pool grown by a burst ends its idle workers down to one that stays ready', { timeout: 120_000 }, async () => {
  const p = pool({});
  const results = await Promise.all([1, 2, 3].map((i) => run(p, i)));
  expect(results.map((r) => r.returnValue)).toEqual([1, 2, 3]);
  expect(p.stats().workers).toBeGreaterThanOrEqual(2);
  await vi.waitFor(() => expect(p.stats().workers).toBe(1), { timeout: 30_000, interval: 50 });
  // Ended for idleness, not failures: nothing counts as replaced, and the kept worker still runs bots.
  expect(p.stats().replaced).toBe(0);
  expect((await run(p, 4)).returnValue).toBe(4);
});

test('never ends workers below minWorkers, nor any when idleWorkerMs is 0', { timeout: 120_000 }, async () => {
  const floor = pool({ minWorkers: 2 });
  const keepAll = pool({ idleWorkerMs: 0 });
  await Promise.all([1, 2, 3].flatMap((i) => [run(floor, i), run(keepAll, i)]));
  const grown = keepAll.stats().workers;
  expect(grown).toBeGreaterThanOrEqual(2);
  await vi.waitFor(() => expect(floor.stats().workers).toBe(2), { timeout: 30_000, interval: 50 });
  // By now keepAll's workers have been idle for well over floor's idleWorkerMs: still all there.
  expect(keepAll.stats().workers).toBe(grown);
});
