import {
  badRequest,
  type Filter,
  getSearchParameter,
  OperationOutcomeError,
  Operator,
  parseSearchRequest,
  type SearchRequest,
} from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

const PREFIX_RE = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)/;

/** The prefixes of ordered values (FHIR search). */
export const PREFIXES = new Set<string>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** The modifiers a parameter name may carry (`name:exact`); Medplum adds `:present`. */
export const MODIFIERS = new Set<string>([
  'missing',
  'present',
  'exact',
  'contains',
  'text',
  'not',
  'above',
  'below',
  'in',
  'not-in',
  'of-type',
  'identifier',
]);

type Query = Record<string, string | string[] | undefined>;

/** Whether `key` (a name with an optional modifier) is a date parameter of the type. */
function isDateKey(resourceType: string, key: string): boolean {
  if (key.includes('.') || key.startsWith('_has:')) {
    return false;
  }
  return getSearchParameter(resourceType, key.split(':')[0])?.type === 'date';
}

/**
 * A date parameter as a Filter, without core's validation: core tests the whole value against
 * one date, so an OR list ("2023,2024-03") is refused, and its message does not name the
 * parameter. Each value is checked when the condition is built, naming the parameter.
 */
function dateFilter(key: string, value: string): Filter {
  const [code, modifier] = key.split(':');
  if (modifier) {
    return { code, operator: modifier as Operator, value };
  }
  const prefix = PREFIX_RE.exec(value)?.[1];
  return prefix ? { code, operator: prefix as Operator, value: value.slice(2) } : { code, operator: Operator.EQUALS, value };
}

/**
 * Checks the modifier of a key before core reads it: core turns an unknown modifier into plain
 * equality (`name:foo=x` would search `name=x`) and drops a reference's type modifier
 * (`subject:Patient=123` would match any type's 123). The type modifier becomes part of the value.
 */
function normalizeModifier(resourceType: string, key: string, value: string): [string, string] {
  if (key.includes('.') || key.startsWith('_has:') || !key.includes(':')) {
    return [key, value];
  }
  const [code, modifier] = key.split(':');
  const sp = getSearchParameter(resourceType, code);
  if (!sp || MODIFIERS.has(modifier)) {
    return [key, value];
  }
  if (sp.type === 'reference' && (sp.target as string[] | undefined)?.includes(modifier)) {
    const typed = value
      .split(',')
      .map((v) => (/^[A-Za-z0-9\-.]{1,64}$/.test(v) ? `${modifier}/${v}` : v))
      .join(',');
    return [code, typed];
  }
  throw new OperationOutcomeError(badRequest(`Unknown modifier ":${modifier}" for search parameter ${code}`, key));
}

/** Core's error for a value it refused, with the parameter it belongs to. */
function withParameter(err: unknown, key: string): unknown {
  if (err instanceof OperationOutcomeError) {
    const text = err.outcome.issue?.[0]?.details?.text ?? 'Invalid search value';
    return new OperationOutcomeError(badRequest(`${text} (search parameter ${key})`, key));
  }
  return err;
}

/** One `key=value` as a Filter of a search on `resourceType`, read the way that type defines the key. */
export function parseSearchParameter(resourceType: string, rawKey: string, rawValue: string): Filter {
  const [key, value] = normalizeModifier(resourceType, rawKey, rawValue);
  if (isDateKey(resourceType, key)) {
    return dateFilter(key, value);
  }
  let parsed: Filter | undefined;
  try {
    parsed = parseSearchRequest(`${resourceType}?${new URLSearchParams([[key, value]]).toString()}`).filters?.[0];
  } catch (err) {
    throw withParameter(err, key);
  }
  if (!parsed) {
    throw new OperationOutcomeError(badRequest(`Invalid search parameter "${key}"`, key));
  }
  return parsed;
}

/**
 * A search query (GET parameters or a form-encoded POST body) as a SearchRequest: core's parser,
 * except that date parameters take OR lists and their errors name the parameter.
 */
export function parseSearchQuery<T extends Resource = Resource>(resourceType: T['resourceType'], query: Query): SearchRequest<T> {
  const rest: Query = {};
  const dateFilters: Filter[] = [];
  for (const [rawKey, raw] of Object.entries(query)) {
    for (const rawValue of raw === undefined ? [] : ([] as string[]).concat(raw)) {
      const [key, value] = normalizeModifier(resourceType, rawKey, rawValue);
      if (isDateKey(resourceType, key)) {
        dateFilters.push(dateFilter(key, value));
      } else {
        rest[key] = rest[key] === undefined ? value : ([] as string[]).concat(rest[key] as string | string[], value);
      }
    }
  }
  const request = parseSearchRequest<T>(resourceType, rest);
  if (dateFilters.length > 0) {
    request.filters = [...(request.filters ?? []), ...dateFilters];
  }
  return request;
}
