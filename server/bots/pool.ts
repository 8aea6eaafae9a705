import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { WorkerReply, WorkerSettings, WorkerTask } from './worker.ts';

export interface PoolOptions {
  /** Workers kept started and idle, ready for the next execution. */
  minWorkers: number;
  /** Upper bound of concurrent routine executions (priority 0); further ones wait in line. */
  maxWorkers: number;
  /**
   * Workers beyond maxWorkers that only executions of a higher priority may use: when routine work
   * (workflow bookkeeping, a long cron sweep) fills every worker, an alarm's execution still starts
   * at once instead of waiting for one of them to end.
   */
  reserveWorkers: number;
  /**
   * The workers' nice value (Linux: per thread; 0 leaves them at the server's priority). Bots wait
   * on the server's own event loop for every read and write they make: when the cores are short,
   * that loop (and PostgreSQL) going first finishes the bots' requests sooner too.
   */
  nice: number;
  /** V8 old-generation heap limit of each worker, in MB. */
  memoryMb: number;
  /**
   * A worker idle this long (ms) is ended while more than max(minWorkers, 1) are started, so a
   * burst that grew the pool to maxWorkers does not keep ~30 MB per isolate resident for good.
   * 0 keeps every worker.
   */
  idleWorkerMs: number;
  /**
   * Where workers keep Node's compile cache (worker-entry.mjs), so a new worker loads the modules
   * the previous ones compiled; unset: Node's default, under the OS temporary directory.
   */
  compileCacheDir?: string;
}

export interface PoolResult {
  ok: boolean;
  returnValue?: unknown;
  error?: string;
  log: string;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  busy: boolean;
  /** When it last finished an execution (or became ready), for the idle reaper. */
  idleSince: number;
  /** Code versions this worker has compiled. */
  known: Set<string>;
  running?: { task: WorkerTask; resolve: (r: PoolResult) => void; timer: NodeJS.Timeout };
}

interface Waiting {
  task: WorkerTask;
  code: string;
  timeoutMs: number;
  /** Higher runs first; equal ones in arrival order. */
  priority: number;
  resolve: (r: PoolResult) => void;
}

const WORKER_FILE = new URL('./worker-entry.mjs', import.meta.url);

/**
 * Pre-started worker threads for bot code. One execution per worker at a time; a worker that
 * times out, runs out of memory or exits is discarded and replaced, and only its execution fails.
 * Executions wait in line by priority (higher first, then in arrival order); routine ones (0) use at
 * most maxWorkers workers, higher ones also the reserveWorkers beyond them.
 */
export class WorkerPool {
  private readonly options: PoolOptions;
  private readonly logger: Logger;
  private readonly slots = new Set<Slot>();
  private readonly queue: Waiting[] = [];
  private readonly codes = new Map<number, string>();
  private nextId = 1;
  private closed = false;
  private reaper: NodeJS.Timeout | undefined;
  /** Whether executions above routine may come (see expectUrgent); gates the reserve's spare. */
  private urgentExpected = false;
  /** Workers replaced after a failure (timeouts, memory, exits), for the health check. */
  replaced = 0;

  constructor(options: PoolOptions, logger: Logger) {
    this.options = options;
    this.logger = logger;
  }

  start(): void {
    while (this.slots.size < this.options.minWorkers) {
      this.spawn();
    }
    if (this.options.idleWorkerMs > 0 && !this.reaper && !this.closed) {
      this.reaper = setInterval(() => this.endIdleWorkers(), Math.max(1, Math.floor(this.options.idleWorkerMs / 2)));
      this.reaper.unref();
    }
  }

  /**
   * Ends workers idle for idleWorkerMs, the longest idle first, down to max(minWorkers, 1): the
   * one kept stands ready with its compiled bots, so the next execution after a quiet spell does
   * not wait for an isolate to start (keepSpare starts another beside it as soon as it is busy).
   * While urgent executions are expected the reserve stays too: the first alarms after a quiet
   * spell then start at once on warm workers, instead of the second one waiting for a worker
   * that starts while the first alarm's cascade has the cores busy.
   */
  private endIdleWorkers(): void {
    const floor = Math.max(this.options.minWorkers, 1 + (this.urgentExpected ? this.options.reserveWorkers : 0));
    const cutoff = Date.now() - this.options.idleWorkerMs;
    const idle = [...this.slots].filter((s) => s.ready && !s.busy && s.idleSince <= cutoff).sort((a, b) => a.idleSince - b.idleSince);
    for (const slot of idle) {
      if (this.slots.size <= floor) return;
      // Out of the set first: its exit event then finds nothing to retire or replace.
      this.slots.delete(slot);
      void slot.worker.terminate().catch(() => undefined);
    }
  }

  stats(): { workers: number; starting: number; busy: number; queued: number; replaced: number } {
    let busy = 0;
    let starting = 0;
    for (const s of this.slots) {
      if (s.busy) busy++;
      else if (!s.ready) starting++;
    }
    return { workers: this.slots.size, starting, busy, queued: this.queue.length, replaced: this.replaced };
  }

  run(task: Omit<WorkerTask, 'id' | 'code'>, code: string, timeoutMs: number, priority = 0): Promise<PoolResult> {
    if (this.closed) {
      return Promise.resolve({ ok: false, error: 'Bot runtime is shut down', log: '' });
    }
    return new Promise<PoolResult>((resolve) => {
      const waiting: Waiting = { task: { ...task, id: this.nextId++ }, code, timeoutMs, priority, resolve };
      // Behind every execution of the same or a higher priority (the line is short: a scan is enough).
      let at = this.queue.length;
      while (at > 0 && this.queue[at - 1].priority < priority) at--;
      this.queue.splice(at, 0, waiting);
      this.dispatch();
    });
  }

  /**
   * Told whether executions of a higher priority may come (the subscription engine knows whether
   * any active Subscription is above routine). Only then does a spare stand ready in the reserve:
   * otherwise routine work filling maxWorkers would start a worker nobody may use, a thread start
   * (~30 MB, a fraction of a core for ~0.2 s) at the busiest moment. An urgent execution that comes
   * unannounced still gets the reserve, by starting a worker for it.
   */
  expectUrgent(expected: boolean): void {
    this.urgentExpected = expected;
    if (expected) this.keepSpare();
  }

  /** How many workers an execution of this priority may have busy at once. */
  private limitFor(priority: number): number {
    return this.options.maxWorkers + (priority > 0 ? this.options.reserveWorkers : 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reaper) clearInterval(this.reaper);
    for (const w of this.queue.splice(0)) {
      w.resolve({ ok: false, error: 'Bot runtime is shut down', log: '' });
    }
    const slots = [...this.slots];
    this.slots.clear();
    await Promise.all(
      slots.map((s) => {
        if (s.running) {
          clearTimeout(s.running.timer);
          s.running.resolve({ ok: false, error: 'Bot runtime is shut down', log: '' });
        }
        return s.worker.terminate().catch(() => undefined);
      }),
    );
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_FILE, {
      // Bots see none of the server's environment (database URL, keys, ...).
      env: {},
      // No server flags reach bot code, except V8 CPU profiling (--cpu-prof*), so a profiled
      // server (e.g. BENCH_CPU_PROF) profiles its bot threads too.
      execArgv: process.execArgv.filter((a) => a.startsWith('--cpu-prof')),
      workerData: { nice: this.options.nice, compileCacheDir: this.options.compileCacheDir } satisfies WorkerSettings,
      resourceLimits: { maxOldGenerationSizeMb: this.options.memoryMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    });
    worker.unref();
    const slot: Slot = { worker, ready: false, busy: false, idleSince: Date.now(), known: new Set() };
    this.slots.add(slot);
    worker.on('message', (msg: WorkerReply) => this.onMessage(slot, msg));
    worker.on('error', (err: Error & { code?: string }) => {
      const error =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `Bot exceeded its memory limit (${this.options.memoryMb} MB)`
          : `Bot worker failed: ${err.message}`;
      this.retire(slot, error);
    });
    worker.on('exit', (code) => this.retire(slot, `Bot ended its worker (exit code ${code})`));
    return slot;
  }

  private onMessage(slot: Slot, msg: WorkerReply): void {
    if (msg.type === 'ready') {
      slot.ready = true;
      slot.idleSince = Date.now();
      this.dispatch();
      return;
    }
    const running = slot.running;
    if (!running || running.task.id !== msg.id) {
      return;
    }
    if (msg.needCode) {
      // The worker lost the compiled code (evicted): send it again with the code.
      const code = this.codes.get(msg.id) ?? '';
      slot.known.delete(running.task.codeKey);
      slot.known.add(running.task.codeKey);
      slot.worker.postMessage({ ...running.task, code });
      return;
    }
    clearTimeout(running.timer);
    this.codes.delete(msg.id);
    slot.running = undefined;
    slot.busy = false;
    slot.idleSince = Date.now();
    running.resolve({ ok: msg.ok, returnValue: msg.returnValue, error: msg.error, log: msg.log });
    this.dispatch();
  }

  /** Takes a dead or killed worker out of the pool, fails its execution, and starts a replacement. */
  private retire(slot: Slot, error: string): void {
    if (!this.slots.delete(slot)) {
      return;
    }
    this.replaced++;
    const running = slot.running;
    slot.running = undefined;
    if (running) {
      clearTimeout(running.timer);
      this.codes.delete(running.task.id);
      this.logger.warn({ error, codeKey: running.task.codeKey }, 'bot worker replaced');
      running.resolve({ ok: false, error, log: error });
    }
    void slot.worker.terminate().catch(() => undefined);
    if (!this.closed) {
      this.start();
      this.dispatch();
    }
  }

  private dispatch(): void {
    this.assign();
    this.keepSpare();
  }

  /**
   * Once bots are in use, one worker beyond the busy ones stands ready (up to maxWorkers, or the
   * reserve included while urgent executions are expected): a bot that loops until its timeout must
   * not make the next execution wait for a worker to start, nor an urgent one when routine work
   * fills maxWorkers.
   * Before the first execution there are none (BOT_MIN_WORKERS aside), which keeps an idle
   * server ~30 MB per worker smaller.
   */
  private keepSpare(): void {
    const cap = this.urgentExpected ? this.limitFor(1) : this.options.maxWorkers;
    if (this.closed || this.slots.size === 0 || this.slots.size >= cap) {
      return;
    }
    for (const s of this.slots) {
      if (!s.busy) return;
    }
    this.spawn();
  }

  private assign(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0];
      const limit = this.limitFor(next.priority);
      let slot: Slot | undefined;
      let starting = 0;
      let busy = 0;
      for (const s of this.slots) {
        if (!s.ready) starting++;
        else if (s.busy) busy++;
        else if (!slot || (s.known.has(next.task.codeKey) && !slot.known.has(next.task.codeKey))) {
          slot = s;
        }
      }
      if (busy >= limit) {
        // The line is in priority order: nothing behind this one may start either.
        return;
      }
      if (!slot) {
        // All busy: grow up to the limit, one worker at a time. A start costs ~70–150 ms of CPU
        // while the burst that needs it has the cores busy, and the waiting execution takes
        // whichever worker is free first, most often one that finishes before the new one is ready.
        if (this.slots.size < limit && starting === 0) {
          this.spawn();
        }
        return;
      }
      const waiting = this.queue.shift() as Waiting;
      const { task } = waiting;
      const send: WorkerTask = slot.known.has(task.codeKey) ? task : { ...task, code: waiting.code };
      slot.known.add(task.codeKey);
      this.codes.set(task.id, waiting.code);
      slot.busy = true;
      const target = slot;
      const timer = setTimeout(() => {
        this.retire(target, `Bot timed out after ${waiting.timeoutMs / 1000} s`);
      }, waiting.timeoutMs);
      slot.running = { task, resolve: waiting.resolve, timer };
      slot.worker.postMessage(send);
    }
  }
}
