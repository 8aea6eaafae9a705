import { setFlagsFromString } from 'node:v8';

/**
 * V8's young generation through a server's life.
 *
 * Start-up: kept at its initial size instead of growing to 64 MB. It grows when many objects
 * survive a scavenge — at start-up, when the FHIR definitions are parsed, that is nearly all of
 * them — and would then stay large while the process idles: ~200 MB instead of ~150 MB.
 *
 * Once the server is up (`youngGenerationMayGrow`): V8's own growth again. The idle collection
 * (server/ops/idle-gc.ts) shrinks the young generation to its minimum, 1 MB, and without growth it
 * stayed there for good: under load every request's objects then outlived two scavenges and were
 * promoted, and a secured token search spent 3 × the garbage collection of a server that had kept
 * the 8 MB it grew to at start-up (CPU profiles, `bench:auth-breakdown`, docs/benchmarks.md, stop 30).
 * Growing under load and shrinking at the next idle collection keeps both the speed and the idle RSS.
 *
 * `HEAP_YOUNG_GROWTH=default` leaves V8's behaviour alone throughout. Imported first by the process
 * entry (server/main.ts, loaded by server/index.ts), before anything allocates.
 */
const managed = process.env.HEAP_YOUNG_GROWTH !== 'default';
if (managed) {
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** Start-up is over: the young generation may grow with the load again (V8's default factor). */
export function youngGenerationMayGrow(): void {
  if (managed) {
    setFlagsFromString('--semi-space-growth-factor=2');
  }
}
