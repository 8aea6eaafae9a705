import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type FamilyStatus, loadFamilyStatus } from '../../family/load-status.ts';
import { FHIR_JSON, outcome } from '../../http/outcomes.ts';
import type { PostgresRepository } from '../repo.ts';
import type { RouteDeps } from './routes.ts';

export interface FamilyStatusDeps extends RouteDeps {
  /** The server's own repository: the wait is computed from other patients' visits. */
  repo(): PostgresRepository;
}

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** The status as Parameters: phase, label, wait; never a clinical element or a security label. */
export function statusParameters(status: FamilyStatus): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'label', valueString: status.label },
    { name: 'asOf', valueInstant: status.asOf },
  ];
  if (status.patientName) parameter.push({ name: 'patientName', valueString: status.patientName });
  if (status.encounter) parameter.push({ name: 'encounter', valueReference: { reference: status.encounter } });
  if (status.phase) parameter.push({ name: 'phase', valueCode: status.phase });
  if (status.wait) {
    parameter.push({ name: 'patientsAhead', valueInteger: status.wait.ahead }, { name: 'waitBasis', valueCode: status.wait.basis });
    if (status.wait.minutes !== undefined) parameter.push({ name: 'expectedWaitMinutes', valueInteger: status.wait.minutes });
  }
  return { resourceType: 'Parameters', parameter };
}

/**
 * `GET Patient/{id}/$family-status`: where the patient is in the visit and the expected wait, as the
 * family page shows it (server/family). A family member may ask only about the patient they were
 * invited for, and only while the patient's consent is on file; staff who may read the patient may
 * ask too (to see what the family sees). Anyone else, and a family member asking about another
 * patient, gets 403 without learning whether that patient exists.
 */
export function registerFamilyStatusRoutes(fastify: FastifyInstance, deps: FamilyStatusDeps): void {
  fastify.get<{ Params: { id: string } }>(
    '/fhir/R4/Patient/:id/$family-status',
    async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const { id } = request.params;
      const ctx = request.auth;
      const patientRef = `Patient/${id}`;
      if (ctx?.profile.reference.startsWith('RelatedPerson/')) {
        if (!ctx.familyOf) {
          throw new OperationOutcomeError(
            outcome('forbidden', "No consent on file: the patient's consent to family updates is missing or was revoked"),
          );
        }
        if (ctx.familyOf !== patientRef) {
          throw new OperationOutcomeError(forbidden);
        }
      } else {
        if (!ID_RE.test(id)) {
          throw new OperationOutcomeError(outcome('invalid', `Invalid id "${id}"`));
        }
        // Staff: only for a patient their own policy lets them read (404 when there is none).
        await deps.repoFor(request).readResource('Patient', id);
      }
      const status = await loadFamilyStatus(deps.repo(), patientRef);
      return reply.type(FHIR_JSON).send(JSON.stringify(statusParameters(status)));
    },
  );
}
