import { badRequest, createReference, getReferenceString, OperationOutcomeError, type WithId } from '@medplum/core';
import type { AccessPolicy, Patient, Project, ProjectMembership, ProjectMembershipAccess, Reference, User } from '@medplum/fhirtypes';
import { createProfile, createUserWithCredential } from '../auth/admin.ts';
import { passwordProblem } from '../auth/password-rules.ts';
import { generateSecret, hashPassword } from '../auth/secrets.ts';
import { createSecurityRequest } from '../auth/security-request.ts';
import type { PostgresRepository } from '../fhir/repo.ts';

type ProfileType = 'Patient' | 'Practitioner' | 'RelatedPerson';
const PROFILE_TYPES = new Set<string>(['Patient', 'Practitioner', 'RelatedPerson']);

/** Medplum's InviteRequest, as MedplumClient.invite and the app send it. */
export interface InviteRequest {
  resourceType: ProfileType;
  firstName: string;
  lastName: string;
  email: string;
  password?: string;
  sendEmail?: boolean;
  /** The patient a new RelatedPerson belongs to. */
  patient?: Reference<Patient>;
  membership?: Partial<ProjectMembership>;
  /** Deprecated in Medplum in favour of membership.*, still accepted. */
  accessPolicy?: Reference<AccessPolicy>;
  access?: ProjectMembershipAccess[];
  admin?: boolean;
}

function bad(message: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

/** Checks the shape of an invite body; every problem is a 400 naming the field. */
export function parseInvite(body: unknown): InviteRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw bad('Invite needs a JSON body');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.resourceType !== 'string' || !PROFILE_TYPES.has(b.resourceType)) {
    throw bad('resourceType must be Patient, Practitioner or RelatedPerson', 'resourceType');
  }
  for (const field of ['firstName', 'lastName', 'email']) {
    if (typeof b[field] !== 'string' || !(b[field] as string).trim()) {
      throw bad(`${field} is required`, field);
    }
  }
  const email = (b.email as string).trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
    throw bad(`Invalid email "${b.email}"`, 'email');
  }
  if (b.password !== undefined && passwordProblem(b.password)) {
    throw bad(passwordProblem(b.password) as string, 'password');
  }
  if (b.sendEmail !== undefined && typeof b.sendEmail !== 'boolean') {
    throw bad('sendEmail must be true or false', 'sendEmail');
  }
  return { ...(b as unknown as InviteRequest), email, firstName: (b.firstName as string).trim(), lastName: (b.lastName as string).trim() };
}

/** The membership fields an invite sets: membership.* wins over the deprecated top-level ones. */
function membershipFields(req: InviteRequest): Pick<ProjectMembership, 'accessPolicy' | 'access' | 'admin'> {
  const accessPolicy = req.membership?.accessPolicy ?? req.accessPolicy;
  const access = req.membership?.access ?? req.access;
  return {
    ...(accessPolicy ? { accessPolicy } : {}),
    ...(access ? { access } : {}),
    admin: !!(req.membership?.admin ?? req.admin),
  };
}

export interface InviteResult {
  membership: WithId<ProjectMembership>;
  /** A new user invited without a password: the single-use request (type invite) to choose one. */
  setPassword?: { id: string; secret: string };
}

/**
 * Invites a person into the project: the User (reused when the email is known), a profile
 * (Practitioner, Patient or RelatedPerson, or an existing one named in membership.profile) and the
 * ProjectMembership with its AccessPolicy. A new user invited without a password gets a
 * set-password request in the same transaction (the caller emails or shows its link).
 */
export async function inviteMember(repo: PostgresRepository, project: WithId<Project>, req: InviteRequest): Promise<InviteResult> {
  const fields = membershipFields(req);
  for (const ref of [fields.accessPolicy, ...(fields.access ?? []).map((a) => a.policy)]) {
    if (ref) {
      await repo.readReference<AccessPolicy>(ref).catch(() => {
        throw bad(`AccessPolicy ${ref.reference} not found`, 'membership.accessPolicy');
      });
    }
  }
  const existingProfile = req.membership?.profile;
  if (existingProfile) {
    const resource = await repo.readReference(existingProfile).catch(() => {
      throw bad(`Profile ${existingProfile.reference} not found`, 'membership.profile');
    });
    if (resource.resourceType !== req.resourceType) {
      throw bad(`membership.profile is a ${resource.resourceType}, not a ${req.resourceType}`, 'membership.profile');
    }
  } else if (req.resourceType === 'RelatedPerson' && !req.patient?.reference) {
    throw bad('Inviting a RelatedPerson needs the patient they are related to', 'patient');
  }
  const passwordHash = await hashPassword(req.password ?? generateSecret(32));
  return repo.withTransaction(
    async (tx) => {
      const { rows } = await tx.query<{ user_id: string }>('SELECT user_id FROM user_credential WHERE email = $1', [req.email]);
      let user: WithId<User>;
      let setPassword: InviteResult['setPassword'];
      if (rows[0]) {
        user = await tx.readResource<User>('User', rows[0].user_id);
        const member = await tx.searchOne<ProjectMembership>({
          resourceType: 'ProjectMembership',
          filters: [{ code: 'user', operator: 'eq', value: getReferenceString(user) }],
        });
        if (member) {
          throw bad(`${req.email} is already a member of the project (ProjectMembership/${member.id})`, 'email');
        }
        if (req.password) {
          await tx.query('UPDATE user_credential SET password_hash = $2, updated_at = now() WHERE user_id = $1', [user.id, passwordHash]);
        }
      } else {
        user = await createUserWithCredential(tx, project, req, passwordHash);
        if (!req.password) {
          setPassword = await createSecurityRequest(tx, user.id, 'invite');
        }
      }
      const profile = existingProfile ?? createReference(await createProfile(tx, req.resourceType, req, req.patient));
      const membership = await tx.createResource<ProjectMembership>({
        resourceType: 'ProjectMembership',
        project: createReference(project),
        user: createReference(user),
        profile: { ...profile, display: `${req.firstName} ${req.lastName}` } as ProjectMembership['profile'],
        ...fields,
      });
      return { membership, ...(setPassword ? { setPassword } : {}) };
    },
    { resourceTypes: ['User', 'ProjectMembership', req.resourceType] },
  );
}
