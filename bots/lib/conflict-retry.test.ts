import { badRequest, conflict, OperationOutcomeError, preconditionFailed } from '@medplum/core';
import { expect, test } from 'vitest';
import { retryOnConflict } from './conflict-retry.ts';

const noWait = { sleep: async () => undefined, random: () => 0.5 };

test('a 409 is retried with a fresh attempt until one succeeds', async () => {
  const seen: number[] = [];
  const waits: number[] = [];
  const result = await retryOnConflict(
    async (n) => {
      seen.push(n);
      if (n < 3) throw new OperationOutcomeError(conflict('lost a race'));
      return 'written';
    },
    { attempts: 4, maxDelayMs: 40, sleep: async (ms) => void waits.push(ms), random: () => 0.5 },
  );
  expect(result).toBe('written');
  expect(seen).toEqual([1, 2, 3]);
  // Later attempts wait longer: racing writers spread apart.
  expect(waits).toEqual([20, 40]);
});

test('gives up after the last attempt with the conflict itself', async () => {
  let calls = 0;
  const run = retryOnConflict(
    async () => {
      calls++;
      throw new OperationOutcomeError(conflict('still losing'));
    },
    { attempts: 3, maxDelayMs: 10, ...noWait },
  );
  await expect(run).rejects.toThrow('still losing');
  expect(calls).toBe(3);
});

test('other failures are not retried', async () => {
  for (const outcome of [badRequest('invalid'), preconditionFailed]) {
    let calls = 0;
    const run = retryOnConflict(
      async () => {
        calls++;
        throw new OperationOutcomeError(outcome);
      },
      { attempts: 3, maxDelayMs: 10, ...noWait },
    );
    await expect(run).rejects.toBeInstanceOf(OperationOutcomeError);
    expect(calls).toBe(1);
  }
  let calls = 0;
  await expect(
    retryOnConflict(
      async () => {
        calls++;
        throw new Error('network down');
      },
      { attempts: 3, maxDelayMs: 10, ...noWait },
    ),
  ).rejects.toThrow('network down');
  expect(calls).toBe(1);
});
