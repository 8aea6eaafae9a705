import { getStatus, OperationOutcomeError } from '@medplum/core';

export interface ConflictRetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Upper bound of the random wait before attempt n+1 is `maxDelayMs * n` (spreads racing writers apart). */
  maxDelayMs: number;
  /** Replaceable in tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function isConflict(err: unknown): boolean {
  return err instanceof OperationOutcomeError && getStatus(err.outcome) === 409;
}

/**
 * Runs `attempt` again when it fails with 409 Conflict: the server answers that when a transaction
 * lost to concurrent writes after its own retries (a transaction with conditional creates runs
 * SERIALIZABLE). The attempt must decide afresh from what it reads, so a rerun sees the winner's
 * writes. Failing the bot instead would wait for the subscription's retry: a second or more.
 */
export async function retryOnConflict<T>(attempt: (n: number) => Promise<T>, options: ConflictRetryOptions): Promise<T> {
  const sleep = options.sleep ?? wait;
  const random = options.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (n >= options.attempts || !isConflict(err)) {
        throw err;
      }
      await sleep(random() * options.maxDelayMs * n);
    }
  }
}
