import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { outcome, sendOutcome } from '../http/outcomes.ts';
import { listDeadLetters, replayDeadLetters } from './dead-letters.ts';

function requireAdmin(request: FastifyRequest): void {
  if (!request.auth?.membership.admin) throw new OperationOutcomeError(forbidden);
}

/** Operator API for dead letters (project admins only). */
export function registerSubscriptionAdminRoutes(fastify: FastifyInstance, pool: pg.Pool): void {
  fastify.get('/admin/subscriptions/dead-letters', async (request, reply) => {
    requireAdmin(request);
    const q = request.query as { _count?: string; _offset?: string };
    const count = Math.min(1000, Math.max(1, Number.parseInt(q._count ?? '100', 10) || 100));
    const offset = Math.max(0, Number.parseInt(q._offset ?? '0', 10) || 0);
    return reply.send({ deadLetters: await listDeadLetters(pool, count, offset) });
  });
  fastify.post('/admin/subscriptions/dead-letters/$replay', async (request, reply) => {
    requireAdmin(request);
    return reply.send({ replayed: await replayDeadLetters(pool) });
  });
  fastify.post('/admin/subscriptions/dead-letters/:id/$replay', async (request, reply) => {
    requireAdmin(request);
    const { id } = request.params as { id: string };
    const replayed = await replayDeadLetters(pool, id);
    if (replayed === 0) return sendOutcome(reply, outcome('not-found', `No dead letter ${id}`), 404);
    return reply.send({ replayed });
  });
}
