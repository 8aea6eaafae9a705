import { badRequest, OperationOutcomeError } from '@medplum/core';

/** Media types whose bodies are parsed as JSON (FHIR resources, JSON Patch, GraphQL, SCIM). */
export const JSON_CONTENT_TYPES = ['application/json', 'application/fhir+json', 'application/json-patch+json', 'application/scim+json'];

/** True for a Content-Type header naming one of the JSON media types (parameters ignored). */
export function isJsonContentType(contentType: string | undefined): boolean {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  return !!type && JSON_CONTENT_TYPES.includes(type);
}

/**
 * Rejects JSON nested deeper than `maxDepth` before parsing it, by scanning brackets outside
 * strings: a hostile body of a million "[" must cost one linear pass, not a deep recursion.
 */
export function assertJsonDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) {
        i++;
      } else if (c === 34 /* " */) {
        inString = false;
      }
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > maxDepth) {
        throw new OperationOutcomeError(badRequest(`JSON nesting deeper than ${maxDepth} levels`));
      }
    } else if (c === 125 || c === 93) {
      depth--;
    }
  }
}

/** Parses a JSON request body into a value, or throws a 400 OperationOutcome naming the problem. */
export function parseJsonBody(text: string, maxDepth: number): unknown {
  if (text.trim() === '') {
    throw new OperationOutcomeError(badRequest('Empty request body'));
  }
  assertJsonDepth(text, maxDepth);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OperationOutcomeError(badRequest(`Malformed JSON: ${(err as Error).message}`));
  }
}
