import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { ValueSet } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON } from '../../http/outcomes.ts';
import type { TerminologyCatalog } from '../terminology/catalog.ts';
import { expandValueSet } from '../terminology/expansion.ts';
import { requestResolver } from '../terminology/resolver.ts';
import { operationInput } from './input.ts';
import type { RouteDeps } from './routes.ts';

/** As Medplum: 10 codes unless asked, at most 1000 per page. */
const DEFAULT_COUNT = 10;
const MAX_COUNT = 1000;

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new OperationOutcomeError(badRequest(`Invalid ${name} "${String(value)}": must be an integer ≥ ${min}`, name));
  }
  return Math.min(n, max);
}

/**
 * `ValueSet/$expand` and `ValueSet/{id}/$expand` (GET, or POST with Parameters): `url` (or an
 * inline `valueSet`), `filter` (every word must occur in the display or the code), `offset`, `count`.
 */
export function registerExpandRoutes(fastify: FastifyInstance, deps: RouteDeps & { terminology: TerminologyCatalog }): void {
  const handler = async (request: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => {
    const input = operationInput(request.query, request.method === 'POST' ? request.body : undefined);
    const repo = deps.repoFor(request);
    const resolver = requestResolver(repo, deps.terminology);
    let valueSet: ValueSet | undefined;
    const inline = input.get('valueSet') as ValueSet | undefined;
    const url = input.get('url');
    if (request.params.id) {
      valueSet = await repo.readResource<ValueSet>('ValueSet', request.params.id);
    } else if (inline && typeof inline === 'object' && inline.resourceType === 'ValueSet') {
      valueSet = inline;
    } else if (typeof url === 'string' && url) {
      valueSet = await resolver.valueSet(url.split('|')[0]);
      if (!valueSet) {
        throw new OperationOutcomeError(badRequest(`ValueSet ${url} not found`, 'url'));
      }
    } else {
      throw new OperationOutcomeError(badRequest('Missing url (or a valueSet in a Parameters body)', 'url'));
    }
    const filter = input.get('filter');
    if (filter !== undefined && typeof filter !== 'string') {
      throw new OperationOutcomeError(badRequest('Invalid filter: must be a string', 'filter'));
    }
    const expanded = await expandValueSet(valueSet, resolver, {
      filter,
      offset: integer(input.get('offset'), 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
      count: integer(input.get('count'), 'count', DEFAULT_COUNT, 0, MAX_COUNT),
    });
    return reply.type(FHIR_JSON).send(JSON.stringify(expanded));
  };
  for (const url of ['/fhir/R4/ValueSet/$expand', '/fhir/R4/ValueSet/:id/$expand']) {
    fastify.get(url, handler);
    fastify.post(url, handler);
  }
}
