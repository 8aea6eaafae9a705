import { log } from './table.ts';

type Cleanup = { name: string; fn: () => Promise<void> | void };

const cleanups: Cleanup[] = [];
let running: Promise<void> | undefined;

/** Registers a cleanup step; steps run in reverse order of registration, once. Returns an unregister function. */
export function onCleanup(name: string, fn: () => Promise<void> | void): () => void {
  const entry = { name, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export function runCleanups(): Promise<void> {
  running ??= (async () => {
    while (cleanups.length > 0) {
      const c = cleanups.pop() as Cleanup;
      try {
        await c.fn();
      } catch (err) {
        log(`cleanup "${c.name}" failed: ${(err as Error).message}`);
      }
    }
  })();
  return running;
}

/**
 * Runs a benchmark's main function; whatever happens (error, Ctrl-C, SIGTERM) the registered
 * cleanups (stop server, drop scratch database) run before the process exits.
 */
export function runMain(main: () => Promise<void>): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      process.exit(130);
    }
    signalled = true;
    log(`${signal}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main()
    .then(
      () => 0,
      (err: unknown) => {
        process.stderr.write(`\nBENCHMARK FAILED: ${(err as Error)?.stack ?? err}\n`);
        return 1;
      },
    )
    .then(async (code) => {
      await runCleanups();
      process.exit(code);
    });
}
