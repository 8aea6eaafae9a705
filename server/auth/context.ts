import type { Project, ProjectMembership, Reference } from '@medplum/fhirtypes';
import type { CompiledPolicy } from './access-policy.ts';

/** Who is calling, resolved from a verified access token. */
export interface AuthContext {
  loginId: string;
  /** The ClientApplication the token was issued to, if any. */
  clientId?: string;
  membership: ProjectMembership & { id: string };
  project: Project & { id: string };
  /** The caller's profile reference: Practitioner/…, Patient/…, ClientApplication/…, Bot/… */
  profile: Reference & { reference: string };
  /** The User or ClientApplication (or Bot) that authenticated. */
  subject: string;
  scope: string;
  policy: CompiledPolicy;
  /** For a family member (RelatedPerson profile) with the patient's consent on file: `Patient/<id>`. */
  familyOf?: string;
}
