import { badRequest, type Filter, OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { Parameters } from '@medplum/fhirtypes';
import { isKnownResourceType } from '../definitions.ts';
import { parseSince } from '../operations/since.ts';

/**
 * The parameters of a Bulk Data kick-off request (https://hl7.org/fhir/uv/bulkdata/export.html),
 * checked and normalised. Stored with the job as JSON, so it holds only plain values.
 */
export interface ExportRequest {
  level: 'system' | 'patient' | 'group';
  /** The Group of a group-level export. */
  groupId?: string;
  /** `_type`: only these types (undefined: every type the caller may search). */
  types?: string[];
  /** `_since`: only resources updated at or after this instant (ISO). */
  since?: string;
  /** `_typeFilter`, per type: the filter sets (a resource matching any set is exported). */
  typeFilters?: Record<string, Filter[][]>;
}

type RawParams = Record<string, string | string[] | undefined>;

const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
/** Parameters of the IG this server does not implement: refusing them beats silently ignoring them. */
const UNSUPPORTED = ['_elements', 'patient', 'includeAssociatedData', '_typeFilter:'];

function values(params: RawParams, name: string): string[] {
  const v = params[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((s) => s !== '');
}

function one(params: RawParams, name: string): string | undefined {
  const v = values(params, name);
  if (v.length > 1) {
    throw new OperationOutcomeError(badRequest(`${name} may be given only once`, name));
  }
  return v[0];
}

/** `_typeFilter` values may be comma-separated; a comma starts a new filter only before `Type?`. */
function splitTypeFilters(raw: string[]): string[] {
  return raw.flatMap((v) => v.split(/,(?=[A-Z][A-Za-z]+\?)/)).filter(Boolean);
}

function parseTypeFilters(raw: string[], types: string[] | undefined): Record<string, Filter[][]> | undefined {
  const filters = splitTypeFilters(raw);
  if (filters.length === 0) {
    return undefined;
  }
  const out: Record<string, Filter[][]> = {};
  for (const text of filters) {
    const m = /^([A-Z][A-Za-z]+)\?(.*)$/.exec(text);
    if (!m || !isKnownResourceType(m[1])) {
      throw new OperationOutcomeError(
        badRequest(`_typeFilter must be a search such as "Encounter?status=finished", got "${text}"`, '_typeFilter'),
      );
    }
    if (types && !types.includes(m[1])) {
      throw new OperationOutcomeError(badRequest(`_typeFilter names ${m[1]}, which is not in _type`, '_typeFilter'));
    }
    const search = parseSearchRequest(`${m[1]}?${m[2]}`);
    if (search.sortRules?.length || search.include?.length || search.revInclude?.length) {
      throw new OperationOutcomeError(badRequest('_typeFilter may hold search parameters only (no _sort, _include)', '_typeFilter'));
    }
    const list = out[m[1]] ?? [];
    list.push(search.filters ?? []);
    out[m[1]] = list;
  }
  return out;
}

/** Checks a kick-off's parameters: 400 for anything this server cannot honour. */
export function parseExportRequest(level: ExportRequest['level'], params: RawParams, groupId?: string): ExportRequest {
  for (const name of UNSUPPORTED) {
    if (Object.keys(params).some((k) => k === name || (name.endsWith(':') && k.startsWith(name)))) {
      throw new OperationOutcomeError(badRequest(`The parameter ${name.replace(/:$/, '')} is not supported`, name));
    }
  }
  const format = one(params, '_outputFormat');
  if (format !== undefined && !NDJSON_FORMATS.has(format)) {
    throw new OperationOutcomeError(badRequest(`_outputFormat ${format} is not supported; use application/fhir+ndjson`, '_outputFormat'));
  }
  const since = parseSince(one(params, '_since'));
  let types: string[] | undefined;
  const typeValues = values(params, '_type');
  if (typeValues.length > 0) {
    types = [...new Set(typeValues.flatMap((v) => v.split(',')).map((t) => t.trim()))].filter(Boolean);
    for (const type of types) {
      if (!isKnownResourceType(type)) {
        throw new OperationOutcomeError(badRequest(`Unknown resource type "${type}" in _type`, '_type'));
      }
    }
  }
  const typeFilters = parseTypeFilters(values(params, '_typeFilter'), types);
  return { level, groupId, types, since, typeFilters };
}

/** A POST kick-off's Parameters body, in the query form. */
export function parametersAsQuery(body: unknown): RawParams {
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) {
    return {};
  }
  const params = body as Parameters;
  if (params.resourceType !== 'Parameters') {
    throw new OperationOutcomeError(badRequest('$export takes a Parameters body (or none)'));
  }
  const out: Record<string, string[]> = {};
  for (const p of params.parameter ?? []) {
    const value = p.valueInstant ?? p.valueDateTime ?? p.valueString ?? p.valueCode;
    if (p.name && value !== undefined) {
      out[p.name] = [...(out[p.name] ?? []), String(value)];
    }
  }
  return out;
}
