import { badRequest, isResourceType, OperationOutcomeError } from '@medplum/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON, outcome, sendOutcome } from '../../http/outcomes.ts';
import type { RouteDeps } from './routes.ts';
import { parseSince } from './since.ts';

interface HistoryQuery {
  _count?: string | string[];
  _offset?: string | string[];
  _since?: string | string[];
}

const MAX_OFFSET = 100_000;

function single(value: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(value)) {
    throw new OperationOutcomeError(badRequest(`${name} may be given only once`, name));
  }
  return value;
}

function intParam(value: string | string[] | undefined, name: string, fallback: number): number {
  const text = single(value, name);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d{1,9}$/.test(text)) {
    throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer, got "${text}"`, name));
  }
  return Number(text);
}

function since(value: string | string[] | undefined): string | undefined {
  return parseSince(single(value, '_since'));
}

/**
 * History at all three levels: instance (`Patient/1/_history`), type (`Patient/_history`) and
 * system (`_history`), newest first, with `_count`, `_offset` and `_since`. FhirRouter has only
 * instance history, without `_since`.
 */
export function registerHistoryRoutes(fastify: FastifyInstance, deps: RouteDeps): void {
  const handler = async (
    request: FastifyRequest,
    reply: FastifyReply,
    scope: { resourceType?: string; id?: string },
    query: HistoryQuery,
  ) => {
    if (scope.resourceType !== undefined && !isResourceType(scope.resourceType)) {
      return sendOutcome(reply, outcome('not-found', `Unknown resource type "${scope.resourceType}"`), 404);
    }
    // Like search: a page larger than the maximum is cut to the maximum; a deep offset is refused.
    const count = Math.min(intParam(query._count, '_count', 100), deps.config.maxSearchCount);
    const offset = intParam(query._offset, '_offset', 0);
    if (offset > MAX_OFFSET) {
      throw new OperationOutcomeError(badRequest(`_offset may not exceed ${MAX_OFFSET}; use _since instead`, '_offset'));
    }
    const sinceValue = since(query._since);
    const repo = deps.repoFor(request);
    const options = { limit: count + 1, offset, since: sinceValue };
    const bundle =
      scope.resourceType && scope.id
        ? await repo.readHistory(scope.resourceType, scope.id, options)
        : await repo.historyBundle({ ...scope, since: sinceValue }, options);
    const entries = bundle.entry ?? [];
    const path = [scope.resourceType, scope.id].filter(Boolean).join('/');
    const params = new URLSearchParams({ _count: String(count) });
    if (sinceValue) {
      params.set('_since', sinceValue);
    }
    const base = `${deps.fhirBaseUrl}${path ? `${path}/` : ''}_history?${params}`;
    bundle.link = [{ relation: 'self', url: `${base}&_offset=${offset}` }];
    if (entries.length > count) {
      bundle.entry = entries.slice(0, count);
      bundle.link.push({ relation: 'next', url: `${base}&_offset=${offset + count}` });
    }
    if (offset > 0) {
      bundle.link.push({ relation: 'previous', url: `${base}&_offset=${Math.max(0, offset - count)}` });
    }
    return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
  };

  fastify.get<{ Params: { resourceType: string; id: string }; Querystring: HistoryQuery }>(
    '/fhir/R4/:resourceType/:id/_history',
    async (request, reply) => handler(request, reply, request.params, request.query),
  );
  fastify.get<{ Params: { resourceType: string }; Querystring: HistoryQuery }>('/fhir/R4/:resourceType/_history', async (request, reply) =>
    handler(request, reply, { resourceType: request.params.resourceType }, request.query),
  );
  // Static, so it wins over the raw Binary read route (Binary/:id).
  fastify.get<{ Querystring: HistoryQuery }>('/fhir/R4/Binary/_history', async (request, reply) =>
    handler(request, reply, { resourceType: 'Binary' }, request.query),
  );
  fastify.get<{ Querystring: HistoryQuery }>('/fhir/R4/_history', async (request, reply) => handler(request, reply, {}, request.query));
}
