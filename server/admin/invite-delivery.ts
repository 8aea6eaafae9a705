import type { Extension, Project, ProjectMembership } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import { sendProjectEmail } from '../auth/project-email.ts';
import { SECURITY_REQUEST_LIFETIME_MS, setPasswordUrl } from '../auth/security-request.ts';
import type { InviteResult } from './invite.ts';

/** On the invite's answer only (never stored): what happened to the invitation email. */
export const INVITE_EMAIL_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/invite-email';
/**
 * On the invite's answer only, when the email did not go out: the set-password link for the admin
 * to hand over. It is as good as a password until used, so it is shown this once, never stored.
 */
export const SET_PASSWORD_URL_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/set-password-url';

export function inviteEmailText(project: Project, name: string, url: string): string {
  const days = SECURITY_REQUEST_LIFETIME_MS.invite / (24 * 60 * 60 * 1000);
  return [
    `Hello ${name},`,
    '',
    `You have been invited to ${project.name ?? 'EmergiSphere'}.`,
    '',
    `To choose your password and sign in, open this link (valid for ${days} days, once):`,
    '',
    url,
  ].join('\n');
}

/**
 * Emails a new user their set-password link (unless the invite said sendEmail: false) and returns
 * the membership as Medplum answers it, plus — when no email went out — the link for the admin.
 */
export async function deliverInvite(
  project: Project,
  invite: { email: string; firstName: string; lastName: string; sendEmail?: boolean },
  result: InviteResult,
  appBaseUrl: string,
  log: FastifyBaseLogger,
): Promise<ProjectMembership> {
  if (!result.setPassword) {
    return result.membership;
  }
  const url = setPasswordUrl(appBaseUrl, result.setPassword.id, result.setPassword.secret);
  const email =
    invite.sendEmail === false
      ? ({ status: 'not-requested' } as const)
      : await sendProjectEmail(project, {
          to: invite.email,
          subject: `Invitation to ${project.name ?? 'EmergiSphere'}`,
          text: inviteEmailText(project, `${invite.firstName} ${invite.lastName}`, url),
        });
  if (email.status === 'failed') {
    log.warn({ membership: `ProjectMembership/${result.membership.id}`, error: email.error }, 'invitation email not sent');
  }
  const extension: Extension[] = [{ url: INVITE_EMAIL_EXTENSION, valueCode: email.status }];
  if (email.status !== 'sent') {
    extension.push({ url: SET_PASSWORD_URL_EXTENSION, valueUrl: url });
  }
  return { ...result.membership, extension: [...(result.membership.extension ?? []), ...extension] };
}
