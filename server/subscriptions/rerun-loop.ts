/**
 * Runs an async body one at a time. A kick while it runs makes it run once more afterwards, so
 * work that arrives during a pass (a NOTIFY, a finished delivery) is never missed, and a pass
 * that finishes without awaiting leaves no stale "running" marker behind.
 */
export class RerunLoop {
  private readonly body: () => Promise<void>;
  private readonly shouldStop: () => boolean;
  private readonly onError: (err: unknown) => void;
  private current?: Promise<void>;
  private again = false;

  constructor(body: () => Promise<void>, shouldStop: () => boolean, onError: (err: unknown) => void) {
    this.body = body;
    this.shouldStop = shouldStop;
    this.onError = onError;
  }

  /** The pass in progress, if any (to wait for it on shutdown). */
  get running(): Promise<void> | undefined {
    return this.current;
  }

  /** Returns whether the body will run (now, or once more after the pass under way); false once stopped. */
  kick(): boolean {
    if (this.shouldStop()) return false;
    if (this.current) {
      this.again = true;
      return true;
    }
    let done!: () => void;
    this.current = new Promise<void>((r) => {
      done = r;
    });
    void (async () => {
      try {
        do {
          this.again = false;
          await this.body();
        } while (this.again && !this.shouldStop());
      } catch (err) {
        this.onError(err);
      } finally {
        this.current = undefined;
        done();
      }
    })();
    return true;
  }
}
