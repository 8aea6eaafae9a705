import { allOk, badRequest, forbidden, isResourceType, OperationOutcomeError } from '@medplum/core';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { PostgresRepository, RepositoryOptions } from '../fhir/repo.ts';
import { outcome, sendOutcome } from '../http/outcomes.ts';
import { DELIVERY_CHANNEL, OUTBOX_CHANNEL } from './engine.ts';
import { type Interaction, parseSubscription } from './subscription.ts';

export interface ResendOptions {
  /** Only this Subscription ("Subscription/123" or "123"); otherwise every matching one. */
  subscription?: string;
  interaction?: Interaction;
  /** An earlier version to deliver instead of the current one (our extension of Medplum's options). */
  versionId?: string;
}

export interface ResendDeps {
  pool: pg.Pool;
  repoFor(request: FastifyRequest, options?: RepositoryOptions): PostgresRepository;
}

const INTERACTIONS = new Set(['create', 'update', 'delete']);

/** Medplum's body `{ subscription?, interaction?, verbose? }`, or the same as Parameters. */
export function parseResendOptions(body: unknown): ResendOptions {
  if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) return {};
  if (typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw new OperationOutcomeError(badRequest('$resend expects a JSON body { subscription?, interaction? }'));
  }
  let b = body as Record<string, unknown>;
  if (b.resourceType === 'Parameters') {
    const params = (b.parameter ?? []) as { name?: string; [k: string]: unknown }[];
    b = Object.fromEntries(params.map((p) => [p.name, Object.entries(p).find(([k]) => k.startsWith('value'))?.[1]]));
  }
  const { subscription, interaction, versionId } = b;
  if (versionId !== undefined && (typeof versionId !== 'string' || !/^[0-9a-f-]{36}$/i.test(versionId))) {
    throw new OperationOutcomeError(badRequest('versionId must be a version id of the resource', 'versionId'));
  }
  if (subscription !== undefined && (typeof subscription !== 'string' || !/^(Subscription\/)?[A-Za-z0-9\-.]{1,64}$/.test(subscription))) {
    throw new OperationOutcomeError(badRequest('subscription must be a Subscription reference ("Subscription/<id>")', 'subscription'));
  }
  if (interaction !== undefined && (typeof interaction !== 'string' || !INTERACTIONS.has(interaction))) {
    throw new OperationOutcomeError(badRequest('interaction must be create, update or delete', 'interaction'));
  }
  return {
    subscription: subscription as string | undefined,
    interaction: interaction as Interaction | undefined,
    ...(versionId ? { versionId: versionId as string } : {}),
  };
}

interface Version {
  versionId: string;
  lastUpdated: Date;
}

/** The version to deliver (the current one, or the one asked for) and the one before it. */
async function versions(
  pool: pg.Pool,
  resource: Resource,
  versionId: string | undefined,
): Promise<{ version: Version; previous: string | null }> {
  const { rows } = await pool.query<{ version_id: string; last_updated: Date }>(
    'SELECT version_id::text, last_updated FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3 AND NOT deleted',
    [resource.resourceType, resource.id, versionId ?? resource.meta?.versionId],
  );
  if (!rows[0]) {
    throw new OperationOutcomeError({
      resourceType: 'OperationOutcome',
      id: 'not-found',
      issue: [
        { severity: 'error', code: 'not-found', details: { text: `${resource.resourceType}/${resource.id} has no version ${versionId}` } },
      ],
    });
  }
  const version = { versionId: rows[0].version_id, lastUpdated: rows[0].last_updated };
  const prev = await pool.query<{ version_id: string }>(
    `SELECT version_id::text FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id <> $3 AND last_updated <= $4
     ORDER BY last_updated DESC LIMIT 1`,
    [resource.resourceType, resource.id, version.versionId, version.lastUpdated],
  );
  return { version, previous: prev.rows[0]?.version_id ?? null };
}

/**
 * `POST [type]/[id]/$resend` (Medplum's operation): the resource's current version (or the
 * `versionId` given) goes through subscription delivery again. Without `subscription` it is queued as a new event, matched
 * against every active Subscription as a write would be; with one, a delivery for that
 * Subscription alone is queued (an explicit operator request: its criteria are not re-evaluated,
 * only its resource type). Delivery is the usual one: retries, AuditEvents, dead letters; bots are
 * idempotent per version. Project admins only: it runs bots and posts to endpoints.
 */
export function registerResendRoutes(fastify: FastifyInstance, deps: ResendDeps): void {
  fastify.post<{ Params: { resourceType: string; id: string } }>('/fhir/R4/:resourceType/:id/$resend', async (request, reply) => {
    if (!request.auth?.membership.admin) {
      throw new OperationOutcomeError(forbidden);
    }
    const { resourceType, id } = request.params;
    if (!isResourceType(resourceType)) {
      return sendOutcome(reply, outcome('not-found', `Unknown resource type "${resourceType}"`), 404);
    }
    const options = parseResendOptions(request.body);
    const repo = deps.repoFor(request);
    const resource = await repo.readResource(resourceType, id);
    const { version, previous } = await versions(deps.pool, resource, options.versionId);
    const versionId = version.versionId;
    const interaction: Interaction = options.interaction ?? (previous ? 'update' : 'create');
    if (!options.subscription) {
      await deps.pool.query(
        `WITH o AS (INSERT INTO subscription_outbox (resource_type, id, version_id, previous_version_id, interaction)
           VALUES ($1, $2, $3, $4, $5) RETURNING seq)
         SELECT pg_notify('${OUTBOX_CHANNEL}', $1) FROM o`,
        [resourceType, id, versionId, previous, interaction],
      );
      return sendOutcome(reply, allOk, 200);
    }
    const subId = options.subscription.replace(/^Subscription\//, '');
    const sub = await repo.readResource<Subscription>('Subscription', subId);
    if (sub.status !== 'active') {
      throw new OperationOutcomeError(badRequest(`Subscription/${subId} is not active (status ${sub.status})`, 'subscription'));
    }
    let parsed: ReturnType<typeof parseSubscription>;
    try {
      parsed = parseSubscription(sub);
    } catch (err) {
      throw new OperationOutcomeError(badRequest(`Subscription/${subId}: ${(err as Error).message}`, 'subscription'));
    }
    if (parsed.resourceType !== resourceType) {
      throw new OperationOutcomeError(
        badRequest(`Subscription/${subId} is about ${parsed.resourceType}, not ${resourceType}`, 'subscription'),
      );
    }
    await deps.pool.query(
      `WITH d AS (INSERT INTO subscription_delivery (subscription_id, seq, resource_type, id, version_id, previous_version_id, interaction, max_attempts)
         VALUES ($1, nextval(pg_get_serial_sequence('subscription_outbox', 'seq')), $2, $3, $4, $5, $6, $7) RETURNING delivery_id)
       SELECT pg_notify('${DELIVERY_CHANNEL}', 'resend') FROM d`,
      [subId, resourceType, id, versionId, previous, interaction, parsed.maxAttempts],
    );
    return sendOutcome(reply, allOk, 200);
  });
}
