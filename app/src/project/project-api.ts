import type { MedplumClient } from '@medplum/core';
import type { AccessPolicy, Project, ProjectMembership, Reference } from '@medplum/fhirtypes';

/** One member as `GET admin/projects/:id` lists it. */
export interface ProjectMember {
  id: string;
  membershipId: string;
  user?: string;
  profile?: string;
  name?: string;
  accessPolicy?: Reference<AccessPolicy>;
  access?: ProjectMembership['access'];
  admin: boolean;
  active: boolean;
  role: 'owner' | 'admin' | 'member';
}

export interface ProjectDetails {
  project: Project;
  members: ProjectMember[];
}

/** The project of the signed-in admin (every admin page works on it). */
export function projectId(medplum: MedplumClient): string {
  const id = medplum.getProject()?.id;
  if (!id) throw new Error('No project in the current login');
  return id;
}

export function getProjectDetails(medplum: MedplumClient): Promise<ProjectDetails> {
  return medplum.get<ProjectDetails>(`admin/projects/${projectId(medplum)}`, { cache: 'no-cache' });
}

/** The shipped roles carry this tag (server-config/roles/, upserted at every start). */
export const ROLE_TAG_SYSTEM = 'https://emergisphere.dev/fhir/role';

export function roleCode(policy: AccessPolicy): string | undefined {
  return policy.meta?.tag?.find((t) => t.system === ROLE_TAG_SYSTEM)?.code;
}

export function searchPolicies(medplum: MedplumClient): Promise<AccessPolicy[]> {
  return medplum.searchResources('AccessPolicy', { _count: '500', _sort: 'name' }, { cache: 'no-cache' });
}

/** Select options: the roles first (by name), then any other AccessPolicy of the project. */
export function policyOptions(policies: AccessPolicy[]): { value: string; label: string }[] {
  const sorted = [...policies].sort((a, b) => Number(!roleCode(a)) - Number(!roleCode(b)) || (a.name ?? '').localeCompare(b.name ?? ''));
  return sorted.map((p) => ({
    value: `AccessPolicy/${p.id}`,
    label: roleCode(p) ? `${p.name ?? p.id} (role ${roleCode(p)})` : `${p.name ?? p.id} (custom policy)`,
  }));
}

/** The server's invite answer carries the set-password link when no email went out (see docs). */
const SET_PASSWORD_URL_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/set-password-url';

/** The link a new user chooses their password with, when the admin must hand it over. */
export function setPasswordLinkOf(membership: ProjectMembership): string | undefined {
  return membership.extension?.find((e) => e.url === SET_PASSWORD_URL_EXTENSION)?.valueUrl;
}
