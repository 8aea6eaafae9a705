import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON, outcome, sendOutcome } from '../../http/outcomes.ts';
import { operationInput, storedCanonical } from './input.ts';
import type { RouteDeps } from './routes.ts';

/** Nested profiles are followed this many levels; a cycle ends at the first repeat anyway. */
const MAX_PROFILES = 200;

/** The canonical URLs of the profiles an SD's elements are constrained to (extensions, datatypes). */
export function referencedProfiles(sd: StructureDefinition): string[] {
  const urls = new Set<string>();
  for (const el of [...(sd.snapshot?.element ?? []), ...(sd.differential?.element ?? [])]) {
    for (const type of el.type ?? []) {
      for (const p of type.profile ?? []) urls.add(p.split('|')[0]);
    }
  }
  return [...urls];
}

/**
 * `StructureDefinition/$expand-profile?url=…` (GET or POST, as MedplumClient.requestProfileSchema
 * sends it): a searchset Bundle of the profile and every profile it references, transitively.
 * Stored StructureDefinitions (as the caller may read them) come first, then those loaded from
 * fhir-profiles/. References the server does not hold (base R4 datatypes the client already has)
 * are left out.
 */
export function registerExpandProfileRoutes(
  fastify: FastifyInstance,
  deps: RouteDeps & { profiles: Map<string, StructureDefinition> },
): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const input = operationInput(request.query, request.method === 'POST' ? request.body : undefined);
    const url = input.get('url');
    if (typeof url !== 'string' || !url) {
      throw new OperationOutcomeError(badRequest('Missing url', 'url'));
    }
    const repo = deps.repoFor(request);
    const find = async (u: string) => (await storedCanonical<StructureDefinition>(repo, 'StructureDefinition', u)) ?? deps.profiles.get(u);
    const root = await find(url.split('|')[0]);
    if (!root) {
      return sendOutcome(reply, outcome('not-found', `StructureDefinition ${url} not found`), 404);
    }
    const found = new Map<string, StructureDefinition>([[root.url as string, root]]);
    const queue = referencedProfiles(root);
    const tried = new Set<string>([root.url as string]);
    while (queue.length > 0 && found.size < MAX_PROFILES) {
      const next = queue.shift() as string;
      if (tried.has(next)) continue;
      tried.add(next);
      const sd = await find(next);
      if (sd) {
        found.set(next, sd);
        queue.push(...referencedProfiles(sd));
      }
    }
    const bundle: Bundle<StructureDefinition> = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.size,
      entry: [...found.values()].map((resource) => ({
        ...(resource.id ? { fullUrl: `${deps.fhirBaseUrl}StructureDefinition/${resource.id}` } : {}),
        resource,
        search: { mode: 'match' },
      })),
    };
    return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
  };
  fastify.get('/fhir/R4/StructureDefinition/$expand-profile', handler);
  fastify.post('/fhir/R4/StructureDefinition/$expand-profile', handler);
}
