import type { Identifier, Reference, Resource, ResourceType } from '@medplum/fhirtypes';
import type { AckError } from '../../hl7-bridge/hl7v2/ack.ts';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { identifierToken } from './datatypes/cx.ts';

/**
 * What converting one message means for the FHIR server, as data: resources keyed by an
 * identifier, to be found and merged (or created), referring to each other by local keys. The
 * pure converters (adt.ts, oru.ts, …) build plans; apply.ts turns many plans into one search and
 * one transaction.
 */

/**
 * Tag naming the HL7 message a resource version came from: `<MSH-3>^<MSH-4>^<MSH-10>`. Generated
 * identifier values and tag codes avoid `|` `,` `$` `\`, which token searches would need escaped.
 */
export const MESSAGE_TAG_SYSTEM = 'https://emergisphere.dev/fhir/hl7v2-message';
/** Tag with that message's MSH-7 as a UTC instant: an older message never overwrites a newer one. */
export const MESSAGE_TIME_TAG_SYSTEM = 'https://emergisphere.dev/fhir/hl7v2-message-time';
const LOCAL = 'local:';

export type UpsertMode =
  /** Find by identifier; merge the message's fields into it, or create it. */
  | 'merge'
  /** Find by identifier, or create it; never change an existing one (e.g. the patient of a lab result). */
  | 'create-only'
  /** Only refer to it if it exists; references to a missing one are dropped (a lab result's encounter). */
  | 'reference-only';

export interface Upsert<T extends Resource = Resource> {
  /** Unique within a plan: resource type + identifier. */
  key: string;
  resourceType: ResourceType;
  identifier: Identifier;
  /** The elements the message values (top level); `identifier` is united with what exists. */
  resource: T;
  /** Elements the message deletes (HL7 `""`) or an event ends (A13: `period.end`); one level of nesting. */
  clear?: string[];
  /** Elements set only when the resource is created (A08 of an unknown visit: status unknown). */
  defaults?: Record<string, unknown>;
  mode: UpsertMode;
}

/** A40: after the upserts, patient `old` is merged into `survivor`. */
export interface MergeStep {
  survivor: Identifier[];
  old: Identifier[];
}

export interface MessagePlan {
  /** For the ACK. */
  message: Message;
  /** `<MSH-3>^<MSH-4>^<MSH-10>` (the message tag's code). */
  source: string;
  /** MSH-7 as a UTC instant, for staleness. */
  messageTime?: string;
  upserts: Upsert[];
  merge?: MergeStep;
}

/** A semantic problem in a message the validator accepted: it becomes AE with this ERR. */
export class ConversionError extends Error {
  readonly error: AckError;
  constructor(error: Omit<AckError, 'severity'> & { severity?: AckError['severity'] }) {
    super(error.text);
    this.error = { severity: 'E', ...error };
  }
}

export interface ConversionOptions {
  /** The senders' timezone for times without an offset (IANA name or ±hhmm). */
  timezone?: string;
}

export function upsertKey(resourceType: string, identifier: Identifier): string {
  return `${resourceType}|${identifierToken(identifier)}`;
}

/** A reference to another upsert of the same plan, resolved when the plan is applied. */
export function localRef<T extends Resource>(key: string, display?: string): Reference<T> {
  return { reference: `${LOCAL}${key}`, ...(display ? { display } : {}) };
}

export function isLocalRef(reference: string | undefined): reference is string {
  return !!reference?.startsWith(LOCAL);
}

export function localKey(reference: string): string {
  return reference.slice(LOCAL.length);
}

/** MSH-7 → a UTC instant (comparable as text). */
export function messageInstant(message: Message, timezone?: string): string | undefined {
  const local = dtmToFhirDateTime(message.header.value(7), timezone);
  if (!local || local.length < 19) return undefined;
  return new Date(local).toISOString();
}

export function sourceOf(message: Message): string {
  const h = message.header;
  return `${h.value(3)}^${h.value(4)}^${h.value(10)}`;
}

/** Adds an upsert unless one with the same key is planned (first wins: e.g. one Location per bed). */
export function addUpsert(upserts: Upsert[], upsert: Upsert): string {
  if (!upserts.some((u) => u.key === upsert.key)) upserts.push(upsert);
  return upsert.key;
}
