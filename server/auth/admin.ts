import { badRequest, createReference, OperationOutcomeError, type WithId } from '@medplum/core';
import type {
  AccessPolicy,
  ClientApplication,
  Patient,
  Practitioner,
  Project,
  ProjectMembership,
  ProjectMembershipAccessParameter,
  Reference,
  RelatedPerson,
  User,
} from '@medplum/fhirtypes';
import type { PostgresRepository } from '../fhir/repo.ts';
import { passwordProblem } from './password-rules.ts';
import { generateSecret, hashPassword, sha256 } from './secrets.ts';

export const ROLE_SYSTEM = 'https://emergisphere.dev/fhir/role';

/** Finds a role (an AccessPolicy tagged ROLE_SYSTEM|code) by its code, e.g. "triage-nurse". */
export async function findRole(repo: PostgresRepository, role: string): Promise<WithId<AccessPolicy>> {
  const bundle = await repo.search<AccessPolicy>({
    resourceType: 'AccessPolicy',
    filters: [{ code: '_tag', operator: 'eq', value: `${ROLE_SYSTEM}|${role}` }],
    count: 1,
  });
  const policy = bundle.entry?.[0]?.resource;
  if (!policy) {
    throw new OperationOutcomeError(badRequest(`Unknown role "${role}"`));
  }
  return policy;
}

function accessFor(policy: WithId<AccessPolicy> | undefined, parameters: Record<string, string> = {}): ProjectMembership['access'] {
  if (!policy) {
    return undefined;
  }
  const parameter: ProjectMembershipAccessParameter[] = Object.entries(parameters).map(([name, value]) =>
    /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]+$/.test(value) ? { name, valueReference: { reference: value } } : { name, valueString: value },
  );
  return [{ policy: createReference(policy), ...(parameter.length ? { parameter } : {}) }];
}

export interface NewUser {
  email: string;
  password: string;
  firstName: string;
  lastName: string;
  /** Role code of an AccessPolicy shipped in server-config/roles (omit for admins). */
  role?: string;
  admin?: boolean;
  /** What the person is in FHIR: staff (Practitioner), a patient, or a relative. */
  profileType?: 'Practitioner' | 'Patient' | 'RelatedPerson';
  /** AccessPolicy variables, e.g. { patient: 'Patient/123' }. */
  parameters?: Record<string, string>;
}

export interface Person {
  /** Normalised (trimmed, lower case). */
  email: string;
  firstName: string;
  lastName: string;
}

/** A new User of the project and the credential it signs in with (in the caller's transaction). */
export async function createUserWithCredential(
  tx: PostgresRepository,
  project: WithId<Project>,
  person: Person,
  passwordHash: string,
): Promise<WithId<User>> {
  const user = await tx.createResource<User>({
    resourceType: 'User',
    email: person.email,
    firstName: person.firstName,
    lastName: person.lastName,
    project: createReference(project),
  });
  await tx.query('INSERT INTO user_credential (user_id, email, password_hash) VALUES ($1, $2, $3)', [user.id, person.email, passwordHash]);
  return user;
}

/** What a new person is in FHIR: staff, a patient, or a relative of `patient`; named, with their email. */
export function createProfile(
  tx: PostgresRepository,
  type: 'Practitioner' | 'Patient' | 'RelatedPerson',
  person: Person,
  patient: Reference<Patient> | undefined,
): Promise<WithId<Practitioner | Patient | RelatedPerson>> {
  const name = [{ given: [person.firstName], family: person.lastName }];
  const telecom = [{ system: 'email' as const, value: person.email }];
  return tx.createResource<Practitioner | Patient | RelatedPerson>(
    type === 'RelatedPerson'
      ? { resourceType: 'RelatedPerson', name, telecom, patient: patient as Reference<Patient> }
      : { resourceType: type, name, telecom },
  );
}

/** Creates a user with a profile and a membership in the project. */
export async function createUser(repo: PostgresRepository, project: WithId<Project>, input: NewUser): Promise<WithId<ProjectMembership>> {
  const email = input.email.trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
    throw new OperationOutcomeError(badRequest(`Invalid email "${input.email}"`));
  }
  const weak = passwordProblem(input.password);
  if (weak) {
    throw new OperationOutcomeError(badRequest(weak, 'password'));
  }
  const policy = input.role ? await findRole(repo, input.role) : undefined;
  const passwordHash = await hashPassword(input.password);
  return repo.withTransaction(
    async (tx) => {
      const { rows } = await tx.query('SELECT 1 FROM user_credential WHERE email = $1', [email]);
      if (rows.length > 0) {
        throw new OperationOutcomeError(badRequest(`A user with email ${email} already exists`));
      }
      const person = { email, firstName: input.firstName, lastName: input.lastName };
      const patient = { reference: input.parameters?.patient ?? '' };
      const profile = await createProfile(tx, input.profileType ?? 'Practitioner', person, patient);
      const user = await createUserWithCredential(tx, project, person, passwordHash);
      return tx.createResource<ProjectMembership>({
        resourceType: 'ProjectMembership',
        project: createReference(project),
        user: createReference(user),
        profile: createReference(profile) as ProjectMembership['profile'],
        admin: !!input.admin,
        access: accessFor(policy, input.parameters),
      });
    },
    { resourceTypes: ['User', 'ProjectMembership', profileTypeOf(input)] },
  );
}

function profileTypeOf(input: NewUser): 'Practitioner' | 'Patient' | 'RelatedPerson' {
  return input.profileType ?? 'Practitioner';
}

export interface NewClient {
  name: string;
  description?: string;
  redirectUri?: string;
  role?: string;
  /** An AccessPolicy by reference (Medplum's admin API), instead of a role code. */
  accessPolicy?: Reference<AccessPolicy>;
  admin?: boolean;
  /** Use this id/secret instead of generated ones (first-start automation). */
  id?: string;
  secret?: string;
  parameters?: Record<string, string>;
}

/** Creates a ClientApplication with its membership; the secret is returned once, stored hashed. */
export async function createClient(
  repo: PostgresRepository,
  project: WithId<Project>,
  input: NewClient,
): Promise<{ client: WithId<ClientApplication>; secret: string }> {
  const policy = input.role ? await findRole(repo, input.role) : undefined;
  const secret = input.secret ?? generateSecret(32);
  const fields = {
    name: input.name,
    ...(input.description ? { description: input.description } : {}),
    ...(input.redirectUri ? { redirectUri: input.redirectUri } : {}),
    status: 'active' as const,
  };
  const access = input.accessPolicy ? [{ policy: input.accessPolicy }] : accessFor(policy, input.parameters);
  const client = await repo.withTransaction(
    async (tx) => {
      const created = input.id
        ? await tx.createResource<ClientApplication>({ resourceType: 'ClientApplication', id: input.id, ...fields }, { assignedId: true })
        : await tx.createResource<ClientApplication>({ resourceType: 'ClientApplication', ...fields });
      await tx.query('INSERT INTO client_credential (client_id, secret_sha256) VALUES ($1, $2)', [created.id, sha256(secret)]);
      await tx.createResource<ProjectMembership>({
        resourceType: 'ProjectMembership',
        project: createReference(project),
        user: createReference(created),
        profile: createReference(created),
        admin: !!input.admin,
        access,
      });
      return created;
    },
    { resourceTypes: ['ClientApplication', 'ProjectMembership'] },
  );
  return { client, secret };
}

/** Replaces a client's secret; the new one is returned once. */
export async function rotateClientSecret(repo: PostgresRepository, clientId: string): Promise<string> {
  await repo.readResource('ClientApplication', clientId);
  const secret = generateSecret(32);
  await repo.query(
    `INSERT INTO client_credential (client_id, secret_sha256) VALUES ($1, $2)
     ON CONFLICT (client_id) DO UPDATE SET secret_sha256 = EXCLUDED.secret_sha256, updated_at = now()`,
    [clientId, sha256(secret)],
  );
  return secret;
}
