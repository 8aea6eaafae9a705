/**
 * `POST /webhook/stripe`: Stripe's webhook entry point. Stripe cannot send our bearer tokens, so
 * the route is public; it takes the raw body (the signature covers the exact bytes) and the
 * `Stripe-Signature` header and executes the billing bot (identifier `ES/bot|billing`) with them.
 * The bot verifies the signature with the project secret `STRIPE_WEBHOOK_SECRET` (Stripe's SDK)
 * before recording anything; a missing header or a refused delivery is a 400, so Stripe retries.
 */
import { badRequest } from '@medplum/core';
import type { Bot } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { BotRuntime } from '../bots/runtime.ts';
import type { PostgresRepository } from '../fhir/repo.ts';
import { sendOutcome } from '../http/outcomes.ts';

export const BILLING_BOT_IDENTIFIER = 'https://emergisphere.dev/fhir/bot|billing';

export async function registerStripeWebhook(
  fastify: FastifyInstance,
  deps: { bots: BotRuntime; systemRepo: () => PostgresRepository },
): Promise<void> {
  await fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post('/webhook/stripe', async (request, reply) => {
      const signature = request.headers['stripe-signature'];
      const payload = typeof request.body === 'string' ? request.body : '';
      if (typeof signature !== 'string' || !signature || !payload) {
        return sendOutcome(reply, badRequest('A Stripe webhook needs a body and a Stripe-Signature header'), 400);
      }
      const bot = await deps.systemRepo().searchOne<Bot>({
        resourceType: 'Bot',
        filters: [{ code: 'identifier', operator: 'eq', value: BILLING_BOT_IDENTIFIER }],
      });
      if (!bot) {
        return sendOutcome(reply, badRequest('The billing agent is not deployed'), 503);
      }
      const result = await deps.bots.executeBot(bot, {
        input: { type: 'stripe-webhook', payload, signature },
        contentType: 'application/json',
      });
      if (!result.ok) {
        return sendOutcome(reply, badRequest(result.error ?? 'webhook refused'), 400);
      }
      return reply.code(200).send({ received: true, result: result.returnValue ?? null });
    });
  });
}
