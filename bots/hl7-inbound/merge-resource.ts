import type { Coding, Encounter, EncounterLocation, Extension, Identifier, Meta, Resource } from '@medplum/fhirtypes';
import { MESSAGE_TAG_SYSTEM, MESSAGE_TIME_TAG_SYSTEM } from './plan.ts';

/**
 * Merging a message's view of a resource into the stored one. HL7 v2 semantics: a field the
 * message leaves empty means "no information" (keep what is stored), a valued field replaces, and
 * "" deletes. So the stored resource keeps everything other agents wrote (triage's priority, a
 * clinician's note) and takes what the message says.
 */

/** Choice elements: setting one form removes the others (deceasedBoolean vs deceasedDateTime). */
const CHOICES = ['deceased', 'multipleBirth', 'value', 'effective', 'onset', 'occurrence', 'abatement', 'product'];

function choicePrefix(key: string): string | undefined {
  return CHOICES.find((c) => key.startsWith(c) && key.length > c.length && /[A-Z]/.test(key[c.length]));
}

function sameIdentifier(a: Identifier, b: Identifier): boolean {
  return (a.system ?? '') === (b.system ?? '') && a.value === b.value;
}

/** Stored identifiers first (their order and extra detail kept), then new ones. */
export function uniteIdentifiers(stored: Identifier[] = [], incoming: Identifier[] = []): Identifier[] {
  return [...stored, ...incoming.filter((i) => !stored.some((s) => sameIdentifier(s, i)))];
}

/** Extensions the message sends replace stored ones of the same URL; others (other agents') stay. */
function uniteExtensions(stored: Extension[] = [], incoming: Extension[] = []): Extension[] {
  return [...stored.filter((s) => !incoming.some((i) => i.url === s.url)), ...incoming];
}

/**
 * Encounter.location is a history: locations the message names take its status; stored ones it
 * does not name stay, and an `active` one among them becomes `completed` (the patient moved).
 */
function uniteLocations(stored: EncounterLocation[] = [], incoming: EncounterLocation[] = []): EncounterLocation[] {
  const named = (l: EncounterLocation) => incoming.some((i) => i.location.reference === l.location.reference);
  const kept = stored.filter((l) => !named(l)).map((l) => (l.status === 'active' ? { ...l, status: 'completed' as const } : l));
  return [...kept, ...incoming];
}

/** Replaces the HL7 provenance tags; keeps every other tag. */
export function withMessageTags(meta: Meta | undefined, source: string, messageTime: string | undefined): Meta {
  const tags = (meta?.tag ?? []).filter((t) => t.system !== MESSAGE_TAG_SYSTEM && t.system !== MESSAGE_TIME_TAG_SYSTEM);
  const added: Coding[] = [{ system: MESSAGE_TAG_SYSTEM, code: source }];
  if (messageTime) added.push({ system: MESSAGE_TIME_TAG_SYSTEM, code: messageTime });
  return { ...meta, tag: [...tags, ...added] };
}

/** The MSH-7 instant of the message that last wrote this resource, if an HL7 message did. */
export function messageTimeOf(resource: Resource): string | undefined {
  return resource.meta?.tag?.find((t) => t.system === MESSAGE_TIME_TAG_SYSTEM)?.code;
}

function clearPath(target: Record<string, unknown>, path: string): void {
  const [head, rest] = path.split('.', 2) as [string, string | undefined];
  if (!rest) {
    delete target[head];
    return;
  }
  const child = target[head];
  if (child && typeof child === 'object' && !Array.isArray(child)) {
    const copy = { ...(child as Record<string, unknown>) };
    delete copy[rest];
    if (Object.keys(copy).length) target[head] = copy;
    else delete target[head];
  }
}

/** Stored ⊕ incoming (valued top-level elements replace), minus `clear`. Meta is the stored one. */
export function mergeResource<T extends Resource>(stored: T, incoming: T, clear: string[] = []): T {
  const out: Record<string, unknown> = { ...stored };
  for (const [key, value] of Object.entries(incoming)) {
    if (key === 'resourceType' || key === 'id' || key === 'meta' || value === undefined) continue;
    const prefix = choicePrefix(key);
    if (prefix) {
      for (const k of Object.keys(out)) if (k !== key && choicePrefix(k) === prefix) delete out[k];
    }
    if (key === 'identifier') {
      out.identifier = uniteIdentifiers((stored as { identifier?: Identifier[] }).identifier, value as Identifier[]);
    } else if (key === 'extension') {
      out.extension = uniteExtensions((stored as { extension?: Extension[] }).extension, value as Extension[]);
    } else if (key === 'location' && stored.resourceType === 'Encounter') {
      out.location = uniteLocations((stored as Encounter).location, value as EncounterLocation[]);
    } else out[key] = value;
  }
  for (const path of clear) clearPath(out, path);
  return out as T;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** Content equality, ignoring version, timestamps and the HL7 provenance tags. */
export function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource) => {
    const { meta, ...rest } = r;
    const tags = (meta?.tag ?? []).filter((t) => t.system !== MESSAGE_TAG_SYSTEM && t.system !== MESSAGE_TIME_TAG_SYSTEM);
    return { ...rest, tags, profile: meta?.profile, security: meta?.security };
  };
  return canonical(strip(a)) === canonical(strip(b));
}
