import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, expect, test, vi } from 'vitest';
import { type PoolOptions, WorkerPool } from './pool.ts';

// A bot that holds its worker until the test releases it (an HTTP request the test answers when
// it chooses), so a burst deterministically needs one worker per execution.
const CODE = 'exports.handler = async (medplum, event) => { await fetch(event.input.gate); return event.input.i; };';
const pools: WorkerPool[] = [];

function pool(options: Partial<PoolOptions>): WorkerPool {
  const p = new WorkerPool(
    { minWorkers: 0, maxWorkers: 3, reserveWorkers: 0, nice: 0, memoryMb: 64, idleWorkerMs: 300, ...options },
    pino({ level: 'silent' }),
  );
  pools.push(p);
  p.start();
  return p;
}

/** An HTTP endpoint that answers held requests only when released. */
async function gate(): Promise<{ url: string; release(): void; close(): Promise<void> }> {
  const held: ServerResponse[] = [];
  let open = false;
  const server = createServer((_req, res) => (open ? res.end('ok') : held.push(res)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    release: () => {
      open = true;
      for (const res of held.splice(0)) res.end('ok');
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function run(p: WorkerPool, i: number, gateUrl: string) {
  return p.run(
    {
      codeKey: 'test-bot/1',
      filename: 'test-bot.js',
      baseUrl: 'http://127.0.0.1:1/',
      accessToken: 'not-used',
      logLimit: 1000,
      event: { bot: { reference: 'Bot/test' }, contentType: 'application/json', input: { i, gate: gateUrl }, secrets: {} },
    },
    CODE,
    30_000,
  );
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

test('a pool grown by a burst ends its idle workers down to one that stays ready', { timeout: 120_000 }, async () => {
  const g = await gate();
  try {
    const p = pool({});
    const burst = Promise.all([1, 2, 3].map((i) => run(p, i, g.url)));
    // Three executions at once, each holding its worker: the pool has grown to three.
    await vi.waitFor(() => expect(p.stats().busy).toBe(3), { timeout: 60_000, interval: 20 });
    g.release();
    expect((await burst).map((r) => r.returnValue)).toEqual([1, 2, 3]);
    await vi.waitFor(() => expect(p.stats().workers).toBe(1), { timeout: 30_000, interval: 20 });
    // Ended for idleness, not failures: nothing counts as replaced, and the kept worker still runs bots.
    expect(p.stats().replaced).toBe(0);
    expect((await run(p, 4, g.url)).returnValue).toBe(4);
  } finally {
    await g.close();
  }
});

/** Grows both pools to three busy workers with a burst, then lets the burst end. */
async function burstOfThree(a: WorkerPool, b: WorkerPool): Promise<void> {
  const g = await gate();
  try {
    const burst = Promise.all([1, 2, 3].flatMap((i) => [run(a, i, g.url), run(b, i, g.url)]));
    await vi.waitFor(() => expect([a.stats().busy, b.stats().busy]).toEqual([3, 3]), { timeout: 60_000, interval: 20 });
    g.release();
    await burst;
  } finally {
    await g.close();
  }
}

test('never ends workers below minWorkers, nor any when idleWorkerMs is 0', { timeout: 120_000 }, async () => {
  const floor = pool({ minWorkers: 2 });
  const keepAll = pool({ idleWorkerMs: 0 });
  await burstOfThree(floor, keepAll);
  await vi.waitFor(() => expect(floor.stats().workers).toBe(2), { timeout: 30_000, interval: 20 });
  // By now keepAll's workers have been idle for longer than floor's idleWorkerMs: all still there.
  expect(keepAll.stats().workers).toBe(3);
});

test('while urgent executions are expected, the reserve stays ready beside the kept worker', { timeout: 120_000 }, async () => {
  const urgent = pool({ reserveWorkers: 1 });
  urgent.expectUrgent(true);
  const routine = pool({ reserveWorkers: 1 });
  await burstOfThree(urgent, routine);
  await vi.waitFor(() => expect(routine.stats().workers).toBe(1), { timeout: 30_000, interval: 20 });
  // Each pool's reaper runs on its own timer (the urgent pool also had its reserve to end): once it
  // is down to two, two more idle periods end nothing more, since it keeps its reserve as well.
  await vi.waitFor(() => expect(urgent.stats().workers).toBeLessThanOrEqual(2), { timeout: 30_000, interval: 20 });
  await new Promise((r) => setTimeout(r, 700));
  expect(urgent.stats().workers).toBe(2);
});
