import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation at its initial size (a few MB) instead of letting it grow to 64 MB.
 * It grows when many objects survive a scavenge — at start-up, when the FHIR definitions are
 * parsed, that is nearly all of them — and never shrinks while the process is idle, so a server
 * would sit at ~200 MB instead of ~150 MB. Request handling allocates short-lived objects, for
 * which the small young generation only means more frequent, equally cheap scavenges.
 * `HEAP_YOUNG_GROWTH=default` leaves V8's behaviour alone. Imported first by the process entry
 * (server/main.ts, loaded by server/index.ts), before anything allocates.
 */
if (process.env.HEAP_YOUNG_GROWTH !== 'default') {
  setFlagsFromString('--semi-space-growth-factor=1');
}
