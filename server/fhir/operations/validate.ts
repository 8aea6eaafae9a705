import { allOk, badRequest, isResourceType, OperationOutcomeError } from '@medplum/core';
import type { Parameters, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON, outcome, sendOutcome } from '../../http/outcomes.ts';
import type { RouteDeps } from './routes.ts';

/** The resource to validate: the body itself, or the `resource` part of a Parameters body. */
function resourceFromBody(body: unknown): Resource {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new OperationOutcomeError(badRequest('$validate needs a resource (or Parameters with a resource) in the body'));
  }
  const r = body as Resource;
  if (r.resourceType === 'Parameters') {
    const param = (r as Parameters).parameter?.find((p) => p.name === 'resource');
    if (!param?.resource) {
      throw new OperationOutcomeError(badRequest('Parameters body needs a "resource" parameter', 'Parameters.parameter'));
    }
    return param.resource;
  }
  return r;
}

/**
 * `$validate`: validation as on write (base definitions, loaded profiles, required bindings),
 * nothing stored. Like Medplum, an invalid resource is answered with 400 and its issues.
 */
export function registerValidateRoutes(fastify: FastifyInstance, deps: RouteDeps): void {
  const handler = async (request: FastifyRequest<{ Params: { resourceType: string; id?: string } }>, reply: FastifyReply) => {
    const { resourceType } = request.params;
    if (!isResourceType(resourceType)) {
      return sendOutcome(reply, outcome('not-found', `Unknown resource type "${resourceType}"`), 404);
    }
    if (Buffer.isBuffer(request.body)) {
      return sendOutcome(reply, {
        ...outcome('not-supported', 'Send the resource as application/fhir+json'),
        id: 'unsupported-media-type',
      });
    }
    const resource = resourceFromBody(request.body);
    if (resource.resourceType !== resourceType) {
      throw new OperationOutcomeError(
        badRequest(`Resource type "${resource.resourceType}" does not match the URL (${resourceType})`, 'resourceType'),
      );
    }
    deps.repoFor(request).validateOnly(resource);
    return reply.type(FHIR_JSON).send(JSON.stringify(allOk));
  };
  fastify.post('/fhir/R4/:resourceType/$validate', handler);
  fastify.post('/fhir/R4/:resourceType/:id/$validate', handler);
}
