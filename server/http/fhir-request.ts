import { badRequest, OperationOutcomeError } from '@medplum/core';
import { outcome } from './outcomes.ts';

/** The parts of a request URL below the FHIR base (`/fhir/R4/`). */
export interface FhirUrl {
  /** e.g. "Patient/123/_history" (no leading slash, no query). */
  path: string;
  /** The raw query string, without "?". */
  search: string;
  segments: string[];
}

export function splitFhirUrl(url: string, prefix: string): FhirUrl {
  const rest = url.startsWith(prefix) ? url.slice(prefix.length) : url.slice(prefix.length - 1);
  const queryStart = rest.indexOf('?');
  const path = (queryStart >= 0 ? rest.slice(0, queryStart) : rest).replace(/^\/+/, '');
  const search = queryStart >= 0 ? rest.slice(queryStart + 1) : '';
  return { path, search, segments: path.split('/').filter(Boolean) };
}

/** `Prefer` header values, e.g. { return: 'minimal', handling: 'strict' }. */
export function preferences(header: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of ([] as string[])
    .concat(header ?? [])
    .join(',')
    .split(/[,;]/)) {
    const [k, v] = part.split('=').map((s) => s?.trim());
    if (k) {
      out[k.toLowerCase()] = (v ?? '').replace(/^"|"$/g, '');
    }
  }
  return out;
}

function unsupportedMediaType(text: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...outcome('not-supported', text), id: 'unsupported-media-type' });
}

function describe(value: unknown): string {
  if (Array.isArray(value)) {
    return 'an array';
  }
  return value === null ? 'null' : `a ${typeof value}`;
}

/**
 * Checks the shape of a FHIR request body before FhirRouter sees it (the router assumes a
 * well-formed body and would fail with TypeErrors); throws a 4xx OperationOutcome.
 */
export function checkFhirBody(method: string, segments: string[], body: unknown, contentType: string | undefined): unknown {
  const isSearch = method === 'POST' && segments.at(-1) === '_search';
  if (Buffer.isBuffer(body)) {
    throw unsupportedMediaType(`Content type "${contentType ?? '(none)'}" is not supported here; send application/fhir+json`);
  }
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded') && !isSearch) {
    throw unsupportedMediaType('Form-encoded bodies are accepted only by _search');
  }
  if (isSearch) {
    return body ?? {};
  }
  const operation = segments.some((s) => s.startsWith('$'));
  if (body === undefined) {
    if (!operation && (method === 'PUT' || method === 'PATCH' || method === 'POST')) {
      throw new OperationOutcomeError(badRequest(`${method} needs a request body`));
    }
    return body;
  }
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  if (method === 'PATCH' ? !(Array.isArray(body) || isObject) : !isObject) {
    const what = method === 'PATCH' ? 'a JSON Patch array' : 'a JSON object (a FHIR resource)';
    throw new OperationOutcomeError(badRequest(`Request body must be ${what}, got ${describe(body)}`));
  }
  return body;
}

/**
 * `_count` and `_offset` must be non-negative integers. @medplum/core's search parser reads them
 * with parseInt, which would turn "1.5" into 1 and "1e3" into 1 instead of rejecting them.
 */
export function checkPaging(params: Record<string, unknown> | undefined): void {
  for (const name of ['_count', '_offset']) {
    for (const value of ([] as unknown[]).concat(params?.[name] ?? [])) {
      if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) {
        throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer, got "${String(value)}"`, name));
      }
    }
  }
}

const BUNDLE_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Structural checks of a batch/transaction Bundle that FhirRouter leaves out: in a transaction an
 * entry without a request would be answered per entry while the others commit, which breaks
 * all-or-nothing; entries that are not objects would surface as TypeErrors.
 */
export function checkBundle(bundle: { resourceType?: unknown; type?: unknown; entry?: unknown }): void {
  if (bundle.resourceType !== 'Bundle') {
    return; // The router answers "Not a bundle".
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) {
    throw new OperationOutcomeError(badRequest('Bundle.entry must be an array', 'Bundle.entry'));
  }
  const entries = (bundle.entry ?? []) as unknown[];
  entries.forEach((entry, i) => {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new OperationOutcomeError(badRequest('Bundle entry must be an object', `Bundle.entry[${i}]`));
    }
    if (bundle.type !== 'transaction') {
      return;
    }
    const request = (entry as { request?: { method?: unknown; url?: unknown } }).request;
    if (typeof request?.method !== 'string' || !BUNDLE_METHODS.has(request.method)) {
      throw new OperationOutcomeError(badRequest('Transaction entry needs request.method', `Bundle.entry[${i}].request.method`));
    }
    if (typeof request.url !== 'string' || request.url === '') {
      throw new OperationOutcomeError(badRequest('Transaction entry needs request.url', `Bundle.entry[${i}].request.url`));
    }
  });
}
