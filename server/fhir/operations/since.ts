import { badRequest, OperationOutcomeError } from '@medplum/core';

// A FHIR instant or dateTime with at least a full date (partial dates are too vague for _since).
const SINCE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** A `_since` value (history, $everything, $export) as an ISO instant; 400 when it is not one. */
export function parseSince(text: string | undefined): string | undefined {
  if (text === undefined) {
    return undefined;
  }
  if (!SINCE_RE.test(text) || Number.isNaN(Date.parse(text))) {
    throw new OperationOutcomeError(badRequest(`_since must be a FHIR instant, got "${text}"`, '_since'));
  }
  return new Date(text).toISOString();
}
