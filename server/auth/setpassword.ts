import { allOk, badRequest, isUUID, OperationOutcomeError } from '@medplum/core';
import type { ProjectMembership } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import { loginAuditEvent } from '../audit/events.ts';
import type { PostgresRepository } from '../fhir/repo.ts';
import { outcome, sendOutcome } from '../http/outcomes.ts';
import { passwordProblem } from './password-rules.ts';
import type { RateLimits } from './rate-limit.ts';
import { hashPassword } from './secrets.ts';
import { consumeSecurityRequest, WrongSecretError } from './security-request.ts';

export interface SetPasswordDeps {
  limits: RateLimits;
  audit: AuditLog;
  systemRepo: () => PostgresRepository;
  /** Drops cached auth contexts after the user's sessions are revoked. */
  invalidateAuth(): void;
}

function bad(message: string, expression: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

/**
 * Medplum's `POST /auth/setpassword { id, secret, password }`: redeems an invite or reset link once.
 * Wrong secrets count as failed sign-ins for the link and the address, so a link cannot be guessed,
 * and are audited like them. A new password ends the user's existing sessions: a reset is often
 * asked for because someone else may know the old one.
 */
export function registerSetPasswordRoute(fastify: FastifyInstance, deps: SetPasswordDeps): void {
  fastify.post('/auth/setpassword', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body.id !== 'string' || !isUUID(body.id)) {
      throw bad('Invalid request ID', 'id');
    }
    if (typeof body.secret !== 'string' || !body.secret) {
      throw bad('Missing secret', 'secret');
    }
    const weak = passwordProblem(body.password);
    if (weak) {
      throw bad(weak, 'password');
    }
    const { id, secret, password } = body as { id: string; secret: string; password: string };
    const key = `setpassword:${id}`;
    const allowed = await deps.limits.loginAllowed(key, request.ip);
    if (!allowed.ok) {
      reply.header('Retry-After', String(allowed.retryAfterSeconds));
      await deps.audit.record(loginAuditEvent({ email: key, actor: { ip: request.ip }, success: false, reason: 'throttled' }));
      return sendOutcome(reply, outcome('throttled', 'Too many failed attempts; try again later'), 429);
    }
    const passwordHash = await hashPassword(password);
    const repo = deps.systemRepo();
    let userId: string;
    try {
      userId = await repo.withTransaction(async (tx) => {
        const owner = await consumeSecurityRequest(tx, id, secret);
        await tx.query('UPDATE user_credential SET password_hash = $2, updated_at = now() WHERE user_id = $1', [owner, passwordHash]);
        return owner;
      });
    } catch (err) {
      if (err instanceof WrongSecretError) {
        await deps.limits.loginFailed(key, request.ip);
        await deps.audit.record(
          loginAuditEvent({ email: key, actor: { ip: request.ip }, success: false, reason: 'incorrect set-password secret' }),
        );
      }
      throw err;
    }
    const memberships = await repo.searchResources<ProjectMembership>({
      resourceType: 'ProjectMembership',
      filters: [{ code: 'user', operator: 'eq', value: `User/${userId}` }],
      count: 1000,
    });
    await repo.query('UPDATE auth_login SET revoked = true, updated_at = now() WHERE membership_id = ANY($1) AND NOT revoked', [
      memberships.map((m) => m.id),
    ]);
    deps.invalidateAuth();
    await deps.audit.record(
      loginAuditEvent({
        email: key,
        actor: { ip: request.ip, who: { reference: `User/${userId}` } },
        success: true,
        reason: 'password set',
      }),
    );
    return sendOutcome(reply, allOk, 200);
  });
}
