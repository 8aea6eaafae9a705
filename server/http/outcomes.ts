import { getStatus, isOperationOutcome, normalizeOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyReply } from 'fastify';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export function outcome(code: string, text: string, severity: 'error' | 'warning' | 'information' = 'error'): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code: code as 'invalid', details: { text } }] };
}

/** Sends an OperationOutcome with the HTTP status FHIR (and Medplum) associate with it. */
export function sendOutcome(reply: FastifyReply, oo: OperationOutcome, status?: number): FastifyReply {
  return reply
    .code(status ?? getStatus(oo))
    .type(FHIR_JSON)
    .send(JSON.stringify(oo));
}

export function toOutcome(err: unknown): OperationOutcome {
  if (err instanceof OperationOutcomeError) {
    return err.outcome;
  }
  if (isOperationOutcome(err)) {
    return err;
  }
  return normalizeOperationOutcome(err);
}
