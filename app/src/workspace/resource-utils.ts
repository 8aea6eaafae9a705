import type { Resource } from '@medplum/fhirtypes';

/** A resource ready to send back: the server owns version, timestamp and author. */
export function forUpdate<T extends Resource>(resource: T): T {
  if (!resource.meta) return resource;
  const { versionId: _v, lastUpdated: _l, author: _a, ...meta } = resource.meta as NonNullable<Resource['meta']> & { author?: unknown };
  return { ...resource, meta };
}
