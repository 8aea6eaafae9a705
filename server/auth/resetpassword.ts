import { allOk, badRequest, OperationOutcomeError } from '@medplum/core';
import type { Project, User } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { PostgresRepository } from '../fhir/repo.ts';
import { outcome, sendOutcome } from '../http/outcomes.ts';
import { sendProjectEmail } from './project-email.ts';
import type { RateLimits } from './rate-limit.ts';
import { createSecurityRequest, setPasswordUrl } from './security-request.ts';

export interface ResetPasswordDeps {
  /** Where the app is served (the link's base): the server's own base URL. */
  appBaseUrl: string;
  limits: RateLimits;
  systemRepo: () => PostgresRepository;
}

/** The text of a reset email; the link is the only thing in it that grants anything. */
export function resetEmailText(url: string): string {
  return [
    'Someone asked to reset your EmergiSphere password.',
    '',
    'To choose a new password, open this link (valid for one hour, once):',
    '',
    url,
    '',
    'If you did not ask for this, you can ignore this email: your password is unchanged.',
  ].join('\n');
}

/**
 * Medplum's `POST /auth/resetpassword { email }`: emails the user a single-use set-password link
 * through the project's email channel. The answer is the same for known and unknown addresses (and
 * when no channel is configured), so it cannot be used to find accounts; each request uses up the
 * address's sign-in failure allowance, which bounds how many emails one address can be sent.
 */
export function registerResetPasswordRoute(fastify: FastifyInstance, deps: ResetPasswordDeps): void {
  fastify.post('/auth/resetpassword', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
    if (!/^[^@\s]+@[^@\s]+$/.test(email) || email.length > 320) {
      throw new OperationOutcomeError(badRequest('Valid email address is required', 'email'));
    }
    const key = `resetpassword:${email}`;
    const allowed = await deps.limits.loginAllowed(key, request.ip);
    if (!allowed.ok) {
      reply.header('Retry-After', String(allowed.retryAfterSeconds));
      return sendOutcome(reply, outcome('throttled', 'Too many password reset requests; try again later'), 429);
    }
    await deps.limits.loginFailed(key, request.ip);
    const repo = deps.systemRepo();
    const { rows } = await repo.query<{ user_id: string }>('SELECT user_id FROM user_credential WHERE email = $1', [email]);
    const userId = rows[0]?.user_id;
    if (userId && body.sendEmail !== false) {
      const user = await repo.readResource<User>('User', userId);
      const project = user.project ? await repo.readReference<Project>(user.project) : undefined;
      const { id, secret } = await createSecurityRequest(repo, userId, 'reset');
      const result = project
        ? await sendProjectEmail(project, {
            to: email,
            subject: 'EmergiSphere password reset',
            text: resetEmailText(setPasswordUrl(deps.appBaseUrl, id, secret)),
          })
        : ({ status: 'not-configured' } as const);
      if (result.status !== 'sent') {
        // Logged for operators without the address or link; the caller learns nothing either way.
        request.log.warn({ user: `User/${userId}`, email: result }, 'password reset email not sent');
      }
    }
    return sendOutcome(reply, allOk, 200);
  });
}
