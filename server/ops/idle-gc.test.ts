import { getHeapSpaceStatistics } from 'node:v8';
import { expect, test, vi } from 'vitest';
import { IDLE_GC_DEFAULTS, type IdleGcOptions, IdleGcPolicy, idleGcFromEnv, quietPeriodMs, startIdleGc } from './idle-gc.ts';

const MB = 1024 * 1024;
const options: IdleGcOptions = { intervalMs: 1000, idleChecks: 2, maxUtilization: 0.05, minGrowthMb: 16 };
const busy = (heapMb: number) => ({ utilization: 0.6, requests: 40, heapUsedBytes: heapMb * MB });
const quiet = (heapMb: number) => ({ utilization: 0.01, requests: 0, heapUsedBytes: heapMb * MB });
// A server waiting on PostgreSQL: its event loop is nearly idle, but it is answering requests.
const waiting = (heapMb: number) => ({ utilization: 0.02, requests: 15, heapUsedBytes: heapMb * MB });

test('collects once the process has been quiet for idleChecks intervals after the heap grew', () => {
  const policy = new IdleGcPolicy(options, 60 * MB);
  expect(policy.sample(busy(100))).toBe(false);
  expect(policy.sample(busy(150))).toBe(false);
  expect(policy.sample(quiet(150))).toBe(false);
  expect(policy.sample(quiet(150))).toBe(true);
});

test('a busy interval restarts the count of quiet ones', () => {
  const policy = new IdleGcPolicy(options, 60 * MB);
  expect(policy.sample(quiet(150))).toBe(false);
  expect(policy.sample(busy(150))).toBe(false);
  expect(policy.sample(quiet(150))).toBe(false);
  expect(policy.sample(quiet(150))).toBe(true);
});

test('an event loop that is nearly idle while requests are answered is not idle', () => {
  const policy = new IdleGcPolicy(options, 60 * MB);
  for (let i = 0; i < 10; i++) expect(policy.sample(waiting(150))).toBe(false);
  expect(policy.sample(quiet(150))).toBe(false);
  expect(policy.sample(quiet(150))).toBe(true);
});

test('never collects a heap that has not grown by minGrowthMb, however long it is idle', () => {
  const policy = new IdleGcPolicy(options, 60 * MB);
  for (let i = 0; i < 10; i++) expect(policy.sample(quiet(60 + 15))).toBe(false);
  expect(policy.sample(quiet(60 + 16))).toBe(true);
});

test('after a collection the heap it left is the baseline: an idle server is not collected again', () => {
  const policy = new IdleGcPolicy(options, 60 * MB);
  policy.sample(quiet(150));
  expect(policy.sample(quiet(150))).toBe(true);
  policy.collected(62 * MB);
  for (let i = 0; i < 10; i++) expect(policy.sample(quiet(63))).toBe(false);
  // The next burst of work grows it again: one more collection when that burst is over.
  policy.sample(busy(120));
  policy.sample(quiet(120));
  expect(policy.sample(quiet(120))).toBe(true);
});

test('the running collector collects a quiet process without exposing gc to the process', async () => {
  const collected: number[] = [];
  // minGrowthMb 0: any heap qualifies, so the test depends only on the process going quiet.
  const handle = startIdleGc(
    { intervalMs: 20, idleChecks: 2, maxUtilization: 0.5, minGrowthMb: 0 },
    () => 0,
    (info) => collected.push(info.ms),
  );
  try {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    await vi.waitFor(() => expect(handle.collections).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });
    expect(collected.length).toBe(handle.collections);
  } finally {
    handle.stop();
  }
});

const newSpaceBytes = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

test('the idle collection also shrinks the young generation a load grew', async () => {
  // Short-lived objects at a high rate make V8 grow the young generation, as a request load does.
  let sink = 0;
  for (let round = 0; round < 40 && (round < 3 || newSpaceBytes() < 8 * MB); round++) {
    const batch: { i: number; s: string }[] = [];
    for (let i = 0; i < 200_000; i++) batch.push({ i, s: `x${i}` });
    sink += batch.length;
  }
  expect(sink).toBeGreaterThan(0);
  const grown = newSpaceBytes();
  expect(grown).toBeGreaterThanOrEqual(8 * MB);
  const handle = startIdleGc({ intervalMs: 20, idleChecks: 2, maxUtilization: 0.5, minGrowthMb: 0 }, () => 0);
  try {
    await vi.waitFor(() => expect(handle.collections).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });
    // A plain full collection leaves it at the grown size.
    expect(newSpaceBytes()).toBeLessThan(grown / 2);
  } finally {
    handle.stop();
  }
});

test('the environment turns the collector off or sets its quiet period', () => {
  expect(idleGcFromEnv({ IDLE_GC: 'false' })).toBeUndefined();
  expect(idleGcFromEnv({ IDLE_GC: '0' })).toBeUndefined();
  const defaults = idleGcFromEnv({});
  expect(defaults).toEqual(IDLE_GC_DEFAULTS);
  // A pause between bursts is not idle: a collection would discard the request path's optimised code.
  expect(quietPeriodMs(IDLE_GC_DEFAULTS)).toBe(30_000);
  const short = idleGcFromEnv({ IDLE_GC: 'true', IDLE_GC_QUIET_SECONDS: '5' });
  expect(short && quietPeriodMs(short)).toBe(5_000);
  expect(short?.minGrowthMb).toBe(IDLE_GC_DEFAULTS.minGrowthMb);
});

test('a malformed setting stops the process at start instead of being ignored', () => {
  expect(() => idleGcFromEnv({ IDLE_GC: 'no' })).toThrow(/IDLE_GC must be true or false/);
  expect(() => idleGcFromEnv({ IDLE_GC_QUIET_SECONDS: '0' })).toThrow(/at least 1/);
  expect(() => idleGcFromEnv({ IDLE_GC_QUIET_SECONDS: '2.5' })).toThrow(/non-negative integer/);
});
