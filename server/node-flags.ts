/**
 * V8 flags the server process is started with (`npm start`, the container image, the benchmarks'
 * and tests' server processes). They can only be given on the command line: V8 reads them when it
 * sets up the heap, before any of the server's code runs, and Node does not accept them in
 * NODE_OPTIONS.
 *
 * `--no-memory-reducer`: V8's memory reducer runs a memory-reducing full collection about 8 s
 * after the last one once allocation slows down, so in a pause of 8 s or more between bursts.
 * Like any full collection of an idle server it deoptimises the request path (server/ops/idle-gc.ts),
 * and it also leaves V8's heap limits tight, so the next burst runs on unoptimised code and
 * collects every fraction of a second. The server's own idle collection does the same work once
 * the process has been quiet for 30 s (`IDLE_GC_QUIET_SECONDS`). Measured with `npm run bench:auth`
 * (docs/benchmarks.md, stop 32): with V8's memory reducer the secured read and identifier search
 * ran at 79–95 % and 81 % of the baseline in two whole runs; without it, 91 % and 98 %.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** The flags of SERVER_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
