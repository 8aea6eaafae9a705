import { allOk, badRequest, isUUID, OperationOutcomeError } from '@medplum/core';
import type { FastifyInstance } from 'fastify';
import type { PostgresRepository } from '../fhir/repo.ts';
import { outcome, sendOutcome } from '../http/outcomes.ts';
import { passwordProblem } from './password-rules.ts';
import type { RateLimits } from './rate-limit.ts';
import { hashPassword } from './secrets.ts';
import { consumeSecurityRequest, WrongSecretError } from './security-request.ts';

export interface SetPasswordDeps {
  limits: RateLimits;
  systemRepo: () => PostgresRepository;
}

function bad(message: string, expression: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

/**
 * Medplum's `POST /auth/setpassword { id, secret, password }`: redeems an invite or reset link once.
 * Wrong secrets count as failed sign-ins for the link and the address, so a link cannot be guessed.
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
      return sendOutcome(reply, outcome('throttled', 'Too many failed attempts; try again later'), 429);
    }
    const passwordHash = await hashPassword(password);
    try {
      await deps.systemRepo().withTransaction(async (tx) => {
        const userId = await consumeSecurityRequest(tx, id, secret);
        await tx.query('UPDATE user_credential SET password_hash = $2, updated_at = now() WHERE user_id = $1', [userId, passwordHash]);
      });
    } catch (err) {
      if (err instanceof WrongSecretError) {
        await deps.limits.loginFailed(key, request.ip);
      }
      throw err;
    }
    return sendOutcome(reply, allOk, 200);
  });
}
