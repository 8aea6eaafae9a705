import { createReference, forbidden, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Patient, Project, RelatedPerson } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { inviteMember } from '../../admin/invite.ts';
import { findRole } from '../../auth/admin.ts';
import { setPasswordUrl } from '../../auth/security-request.ts';
import { familyStanding } from '../../family/consent.ts';
import { FHIR_JSON, outcome } from '../../http/outcomes.ts';
import type { PostgresRepository } from '../repo.ts';
import { operationInput } from './input.ts';
import type { RouteDeps } from './routes.ts';

export interface InviteFamilyDeps extends RouteDeps {
  /** The server's own repository: users and memberships are beyond a clinician's policy. */
  repo(): PostgresRepository;
  /** Drops cached auth contexts after a membership is created. */
  invalidateAuth(): void;
  /** Where the app is served: the base of set-password links. */
  appBaseUrl: string;
}

const FAMILY_ROLE = 'family-member';

function invalid(text: string, expression?: string): OperationOutcomeError {
  const oo = outcome('invalid', text);
  if (expression) oo.issue[0].expression = [expression];
  return new OperationOutcomeError(oo);
}

function optionalString(input: Map<string, unknown>, name: string): string | undefined {
  const v = input.get(name);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`${name} must be a string`, name);
  return v.trim();
}

const emailOf = (rp: RelatedPerson) =>
  rp.telecom
    ?.find((t) => t.system === 'email')
    ?.value?.trim()
    .toLowerCase();

/** The family member being invited: named by `relatedPerson`, or the patient's RelatedPerson with that email. */
async function findRelatedPerson(
  system: PostgresRepository,
  patient: string,
  input: Map<string, unknown>,
  email: string,
): Promise<WithId<RelatedPerson>> {
  const named = input.get('relatedPerson') as { reference?: string } | string | undefined;
  const reference = typeof named === 'string' ? named : named?.reference;
  if (reference !== undefined) {
    const match = /^RelatedPerson\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
    const rp = match ? await system.readResource<RelatedPerson>('RelatedPerson', match[1]).catch(() => undefined) : undefined;
    if (!rp || rp.patient?.reference !== patient) {
      throw invalid(`relatedPerson must be a RelatedPerson of ${patient}, got "${reference}"`, 'relatedPerson');
    }
    return rp;
  }
  const candidates = await system.searchResources<RelatedPerson>({
    resourceType: 'RelatedPerson',
    filters: [{ code: 'patient', operator: 'eq', value: patient }],
    count: 100,
  });
  const rp = candidates.find((c) => emailOf(c) === email);
  if (!rp) {
    throw invalid(
      `${patient} has no family member (RelatedPerson) with email ${email}: record them and the patient's consent naming them first`,
      'email',
    );
  }
  return rp;
}

/**
 * `POST Patient/{id}/$invite-family`: makes a family member of the patient a user who signs in to
 * the family status page. Parameters: `email` (required), `relatedPerson` (Reference; else the
 * patient's RelatedPerson with that email), `firstName`/`lastName` (default: the RelatedPerson's
 * name), `password` (else the answer's `setPasswordUrl` is the single-use link to choose one). The RelatedPerson becomes the user's profile,
 * with the family-member role, whose `%patient` is RelatedPerson.patient.
 *
 * Refused (400, "no consent on file") unless an active Consent of the patient permits family
 * updates to that RelatedPerson (docs/ed-data.md, "Family status page"): the consent names the
 * person, so they are on record before they are invited. Callers: project admins and clinicians
 * (a Practitioner whose role may read the patient and its family members).
 */
export function registerInviteFamilyRoutes(fastify: FastifyInstance, deps: InviteFamilyDeps): void {
  fastify.post<{ Params: { id: string } }>(
    '/fhir/R4/Patient/:id/$invite-family',
    async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const ctx = request.auth;
      const caller = deps.repoFor(request);
      if (
        !ctx ||
        !(
          ctx.membership.admin ||
          (ctx.profile.reference.startsWith('Practitioner/') && caller.access('RelatedPerson', 'read').kind !== 'none')
        )
      ) {
        throw new OperationOutcomeError(forbidden);
      }
      const patient = await caller.readResource<Patient>('Patient', request.params.id);
      const patientRef = `Patient/${patient.id}`;
      const input = operationInput(request.query, request.body);
      const email = optionalString(input, 'email')?.toLowerCase();
      if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) {
        throw invalid('email is required (the address the family member signs in with)', 'email');
      }
      const password = optionalString(input, 'password');
      if (password !== undefined && password.length < 8) {
        throw invalid('password must have at least 8 characters', 'password');
      }
      const system = deps.repo();
      const relatedPerson = await findRelatedPerson(system, patientRef, input, email);
      const standing = await familyStanding(system, relatedPerson.id);
      if (!standing?.consented) {
        throw invalid(
          `No consent on file: ${patientRef} has no active Consent permitting family updates (purpose https://emergisphere.dev/fhir/CodeSystem/consent-purpose|family-updates) to RelatedPerson/${relatedPerson.id}`,
          'relatedPerson',
        );
      }
      const name = relatedPerson.name?.[0];
      const firstName = optionalString(input, 'firstName') ?? name?.given?.join(' ') ?? '';
      const lastName = optionalString(input, 'lastName') ?? name?.family ?? '';
      if (!firstName || !lastName) {
        throw invalid('firstName and lastName are required when the RelatedPerson has no name', 'firstName');
      }
      const role = await findRole(system, FAMILY_ROLE);
      const project = await system.readResource<Project>('Project', ctx.project.id);
      const { membership, setPassword } = await inviteMember(system, project, {
        resourceType: 'RelatedPerson',
        firstName,
        lastName,
        email,
        password,
        patient: createReference(patient),
        membership: { profile: createReference(relatedPerson), accessPolicy: createReference(role) },
      });
      deps.invalidateAuth();
      return reply
        .code(201)
        .type(FHIR_JSON)
        .send(
          JSON.stringify({
            resourceType: 'Parameters',
            parameter: [
              { name: 'membership', valueReference: { reference: `ProjectMembership/${membership.id}` } },
              {
                name: 'relatedPerson',
                valueReference: { reference: `RelatedPerson/${relatedPerson.id}`, display: `${firstName} ${lastName}` },
              },
              // Invited without a password: the single-use link for whoever invited them to hand over.
              ...(setPassword
                ? [{ name: 'setPasswordUrl', valueUrl: setPasswordUrl(deps.appBaseUrl, setPassword.id, setPassword.secret) }]
                : []),
            ],
          }),
        );
    },
  );
}
