/**
 * Reading the Parameters of the legal operations, and who may call them. Pure.
 */
import type { Parameters, ParametersParameter, Reference, Resource } from '@medplum/fhirtypes';

/** A 4xx-worthy problem with the request (the runtime answers 400 with the message). */
export class BadRequest extends Error {}

export function parameters(input: unknown): ParametersParameter[] {
  const body = input as Resource | undefined;
  if (body?.resourceType !== 'Parameters') {
    throw new BadRequest('Send a Parameters resource');
  }
  return (body as Parameters).parameter ?? [];
}

function one(params: ParametersParameter[], name: string): ParametersParameter | undefined {
  const found = params.filter((p) => p.name === name);
  if (found.length > 1) throw new BadRequest(`Parameter "${name}" may be given only once`);
  return found[0];
}

export function stringParam(params: ParametersParameter[], name: string, required = false): string | undefined {
  const p = one(params, name);
  const value = p?.valueString ?? p?.valueCode ?? p?.valueMarkdown;
  if (required && !value?.trim()) throw new BadRequest(`Parameter "${name}" is required`);
  return value?.trim() || undefined;
}

export function codeParam<T extends string>(params: ParametersParameter[], name: string, allowed: readonly T[]): T {
  const value = stringParam(params, name, true) as string;
  if (!allowed.includes(value as T)) throw new BadRequest(`Parameter "${name}" must be one of ${allowed.join(', ')}; got "${value}"`);
  return value as T;
}

/** A reference parameter: a literal "Type/id" (of one of `types` when given), or else an identifier or display. */
export function referenceParam(
  params: ParametersParameter[],
  name: string,
  opts: { required?: boolean; types?: string[]; literal?: boolean } = {},
): Reference | undefined {
  const ref = one(params, name)?.valueReference;
  if (!ref) {
    if (opts.required) throw new BadRequest(`Parameter "${name}" (a Reference) is required`);
    return undefined;
  }
  if (ref.reference) {
    const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref.reference);
    if (!m) throw new BadRequest(`Parameter "${name}": "${ref.reference}" is not a reference like Type/id`);
    if (opts.types && !opts.types.includes(m[1])) throw new BadRequest(`Parameter "${name}" must reference ${opts.types.join(' or ')}`);
    return ref;
  }
  if (opts.literal) throw new BadRequest(`Parameter "${name}" must be a literal reference (Type/id)`);
  if (!ref.identifier?.value && !ref.display) throw new BadRequest(`Parameter "${name}" needs a reference, an identifier or a display`);
  return ref;
}

export function dateTimeParam(params: ParametersParameter[], name: string): string | undefined {
  const p = one(params, name);
  const value = p?.valueDateTime ?? p?.valueInstant;
  if (value !== undefined && Number.isNaN(Date.parse(value))) throw new BadRequest(`Parameter "${name}" is not a dateTime`);
  return value;
}

/** Legal decisions are made by staff: the caller must be a Practitioner (or PractitionerRole). */
export function staffRequester(requester: Reference | undefined): Reference {
  if (!requester?.reference || !/^(Practitioner|PractitionerRole)\//.test(requester.reference)) {
    throw new BadRequest(`Only staff (a Practitioner) may do this; the caller is ${requester?.reference ?? 'unknown'}`);
  }
  return requester;
}

/** Whether two references name the same party: same literal reference, same identifier, or (lacking both) same display. */
export function sameParty(a: Reference | undefined, b: Reference | undefined): boolean {
  if (!a || !b) return false;
  if (a.reference || b.reference) return a.reference === b.reference;
  if (a.identifier?.value || b.identifier?.value)
    return a.identifier?.system === b.identifier?.system && a.identifier?.value === b.identifier?.value;
  return !!a.display && a.display.trim().toLowerCase() === b.display?.trim().toLowerCase();
}

export function describeParty(r: Reference | undefined): string {
  if (!r) return 'nobody';
  return [r.display, r.reference ?? (r.identifier?.value ? `${r.identifier.system ?? ''}|${r.identifier.value}` : undefined)]
    .filter(Boolean)
    .join(' ');
}
