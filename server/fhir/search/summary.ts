import type { SearchRequest } from '@medplum/core';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { elementNameOf, isMandatoryKey, isSummaryKey } from '../definitions.ts';

const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'Resource encoded in summary mode',
};

const ALWAYS_KEPT = new Set(['id', 'meta', 'resourceType']);

function subset<T extends Resource>(resource: T, keep: (key: string) => boolean): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (ALWAYS_KEPT.has(key) || keep(key)) {
      out[key] = value;
    }
  }
  // Tell the reader this is not the whole resource (so it is not, e.g., written back as is).
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [...(meta.tag ?? []), SUBSETTED];
  out.meta = meta;
  return out as T;
}

/**
 * `_summary` and `_elements`: return only the requested top-level elements, tagged SUBSETTED.
 * Choice elements answer to their base name: `_elements=value` keeps `valueQuantity`.
 */
export function applySummary<T extends Resource>(resource: T, request: SearchRequest): T {
  const type = resource.resourceType;
  switch (request.summary) {
    case 'true':
      return subset(resource, (k) => isSummaryKey(type, k));
    case 'text':
      return subset(resource, (k) => k === 'text' || isMandatoryKey(type, k));
    case 'data':
      return subset(resource, (k) => k !== 'text');
    default:
      break;
  }
  if (request.fields?.length) {
    const fields = new Set(request.fields.map((f) => f.trim().split('.')[0]));
    return subset(resource, (k) => fields.has(k) || fields.has(elementNameOf(type, k)));
  }
  return resource;
}
