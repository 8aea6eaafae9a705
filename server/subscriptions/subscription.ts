import { type FhirPathAtom, type Filter, getExtension, normalizeErrorString, parseFhirPath, parseSearchRequest } from '@medplum/core';
import type { Subscription } from '@medplum/fhirtypes';
import { compileMemoryCriteria, type MemoryCriteria } from './matcher.ts';

// Medplum's subscription extensions (packages/core/src/subscriptions, server workers/subscription.ts).
export const EXT = {
  interaction: 'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction',
  fhirPath: 'https://medplum.com/fhir/StructureDefinition/fhir-path-criteria-expression',
  maxAttempts: 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts',
  successCodes: 'https://medplum.com/fhir/StructureDefinition/subscription-success-codes',
  secret: 'https://www.medplum.com/fhir/StructureDefinition/subscription-secret',
  /**
   * EmergiSphere's own (Medplum has none): how urgent the subscription's deliveries are, as a FHIR
   * request-priority code (routine | urgent | asap | stat). A Medplum server ignores it.
   */
  priority: 'https://emergisphere.dev/fhir/StructureDefinition/subscription-priority',
} as const;

/** Delivery priority by request-priority code: higher goes first (see priorityOf). */
export const PRIORITY_RANK: Record<string, number> = { routine: 0, urgent: 1, asap: 2, stat: 3 };

/**
 * The rank of a Subscription's deliveries. Deliveries of a higher rank are claimed first and wait
 * for a bot worker ahead of lower ones (server/bots/pool.ts), so an alarm's path to the page is not
 * queued behind the bookkeeping it starts. Absent or unknown: routine (0).
 */
export function priorityOf(resource: Subscription): number {
  const code = getExtension(resource, EXT.priority)?.valueCode;
  return (code && PRIORITY_RANK[code]) || 0;
}

export type Interaction = 'create' | 'update' | 'delete';

export const DEFAULT_MAX_ATTEMPTS = 3;

/** An active Subscription, parsed once when the cache loads. */
export interface ActiveSubscription {
  id: string;
  resource: Subscription & { id: string };
  resourceType: string;
  filters: Filter[];
  /** undefined: every interaction. */
  interactions?: Set<string>;
  fhirPath?: string;
  /** fhirPath, parsed when the cache loads. */
  fhirPathAtom?: FhirPathAtom;
  maxAttempts: number;
  /** Delivery priority rank (priorityOf): 0 routine … 3 stat. */
  priority: number;
  successCodes?: [number, number][];
  secret?: string;
  channelType: string;
  endpoint?: string;
  headers: Record<string, string>;
  /** The criteria as in-memory token tests, when they are only that (see matcher.ts). */
  memory?: MemoryCriteria;
}

/** "200,201-299" → [[200,200],[201,299]]; undefined when absent or malformed. */
export function parseSuccessCodes(value: string | undefined): [number, number][] | undefined {
  if (!value) return undefined;
  const ranges: [number, number][] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*$/.exec(part);
    if (!m) return undefined;
    ranges.push([Number(m[1]), Number(m[2] ?? m[1])]);
  }
  return ranges;
}

export function isSuccess(sub: Pick<ActiveSubscription, 'successCodes'>, status: number): boolean {
  if (!sub.successCodes) return status >= 200 && status < 300;
  return sub.successCodes.some(([lo, hi]) => status >= lo && status <= hi);
}

/** "Authorization: Bearer x" lines of channel.header → a header map. */
function parseHeaders(lines: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines ?? []) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return headers;
}

/** Parses an active Subscription; throws with a reason when it cannot ever match. */
export function parseSubscription(resource: Subscription & { id: string }): ActiveSubscription {
  if (!resource.criteria) throw new Error('Subscription has no criteria');
  let search: ReturnType<typeof parseSearchRequest>;
  try {
    search = parseSearchRequest(resource.criteria);
  } catch (err) {
    throw new Error(`Invalid criteria: ${normalizeErrorString(err)}`);
  }
  const interactionExts = (resource.extension ?? []).filter((e) => e.url === EXT.interaction && e.valueCode);
  const max = getExtension(resource, EXT.maxAttempts)?.valueInteger;
  const fhirPath = getExtension(resource, EXT.fhirPath)?.valueString;
  let fhirPathAtom: FhirPathAtom | undefined;
  try {
    fhirPathAtom = fhirPath ? parseFhirPath(fhirPath) : undefined;
  } catch (err) {
    throw new Error(`Invalid FHIRPath criteria: ${normalizeErrorString(err)}`);
  }
  return {
    id: resource.id,
    resource,
    resourceType: search.resourceType,
    filters: search.filters ?? [],
    interactions: interactionExts.length ? new Set(interactionExts.map((e) => e.valueCode as string)) : undefined,
    fhirPath,
    fhirPathAtom,
    maxAttempts: max && max > 0 ? max : DEFAULT_MAX_ATTEMPTS,
    priority: priorityOf(resource),
    successCodes: parseSuccessCodes(getExtension(resource, EXT.successCodes)?.valueString),
    secret: getExtension(resource, EXT.secret)?.valueString,
    channelType: resource.channel?.type ?? '',
    endpoint: resource.channel?.endpoint,
    headers: parseHeaders(resource.channel?.header),
    memory: search.filters?.length ? compileMemoryCriteria(search.resourceType, search.filters) : undefined,
  };
}
