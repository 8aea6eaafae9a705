import type { Bundle, Resource } from '@medplum/fhirtypes';

export interface VersionChange {
  /** The newer version. */
  revised: Resource;
  /** The version right before it. */
  original: Resource;
}

/**
 * Consecutive version pairs of an instance history (newest first, as the server answers), for a
 * diff each. A deletion (an entry without a resource) breaks the chain: nothing is diffed across it.
 */
export function consecutiveChanges(history: Bundle): VersionChange[] {
  const entries = history.entry ?? [];
  const changes: VersionChange[] = [];
  for (let i = 0; i + 1 < entries.length; i++) {
    const revised = entries[i].resource;
    const original = entries[i + 1].resource;
    if (revised && original) changes.push({ revised, original });
  }
  return changes;
}

/** The newest version that still had content: what a restore writes back. */
export function lastLiveVersion(history: Bundle): Resource | undefined {
  return history.entry?.find((e) => e.resource)?.resource;
}
