/**
 * A bot worker thread's entry (pool.ts starts this file). Two things have to happen before the
 * worker's modules load, hence the dynamic import at the end (a static one would be linked first):
 * - The thread drops to its nice value, so that loading them takes what the cores have left, not
 *   the server's event loop's share: the pool starts workers in a burst, when that loop is
 *   busiest, and the burst's executions go to whichever worker is free first anyway.
 * - Node's compile cache is switched on, in the server's directory: a worker thread is a fresh
 *   Node instance that would otherwise strip and compile worker.ts, @medplum/core and the rest
 *   again each time the pool grows.
 * Plain JavaScript, unlike the rest of the server: with every TypeScript module it imports found in
 * the cache, a worker then never loads Node's TypeScript stripper, which is most of what is left
 * of its start (`npm run bench:bot-workers`).
 */
import { readFileSync } from 'node:fs';
import { enableCompileCache, flushCompileCache } from 'node:module';
import { setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';

/**
 * Lowers this thread's scheduling priority. On Linux the nice value belongs to a thread, and
 * setpriority() with a thread id changes that thread alone; a process may always lower its own.
 * Elsewhere, or where it is refused, the worker runs at the server's priority.
 * @param {number} nice
 */
function lowerPriority(nice) {
  if (!(nice > 0) || process.platform !== 'linux') {
    return;
  }
  try {
    const tid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]);
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, nice));
  } catch {
    // Not permitted here: normal priority.
  }
}

/** @type {Partial<import('./worker.ts').WorkerSettings>} */
const settings = workerData ?? {};
lowerPriority(settings.nice ?? 0);
// Without the server's directory (a test pool, a server started without the cache) this is
// Node's default, under the OS temporary directory. A cache that cannot be written is skipped.
enableCompileCache(settings.compileCacheDir);
await import('./worker.ts');
// Written now rather than when the thread ends: the pool may end a worker by terminate(), and the
// next one should find the cache complete.
flushCompileCache();
