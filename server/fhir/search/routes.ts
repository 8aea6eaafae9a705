import { allOk, badRequest, OperationOutcomeError } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { Resource, ResourceType } from '@medplum/fhirtypes';
import { parseSearchQuery } from './parse.ts';

type Query = Record<string, string | string[] | undefined>;

/** GET [type]?... */
const searchType: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const request = parseSearchQuery(req.params.resourceType as ResourceType, req.query as Query);
  return [allOk, await repo.search(request)];
};

/** GET [base]?_type=... */
const searchSystem: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const request = parseSearchQuery('MultipleTypes' as ResourceType, req.query as Query);
  if (!request.types?.length) {
    throw new OperationOutcomeError(badRequest('A system search needs _type', '_type'));
  }
  return [allOk, await repo.search(request)];
};

/** POST [type]/_search with a form-encoded body: the same search as GET. */
const searchPost: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const body = (req.body ?? {}) as Query;
  const request = parseSearchQuery<Resource>(req.params.resourceType as ResourceType, { ...(req.query as Query), ...body });
  return [allOk, await repo.search(request)];
};

const HANDLERS: [method: string, path: string, handler: FhirRouteHandler][] = [
  ['GET', '', searchSystem],
  ['GET', ':resourceType', searchType],
  ['POST', ':resourceType/_search', searchPost],
];

function pathOf(segments: { value: string; param?: boolean }[]): string {
  return segments.map((s) => (s.param ? `:${s.value}` : s.value)).join('/');
}

/**
 * Replaces FhirRouter's search handlers with ones that parse through `parseSearchQuery`, so date
 * parameters accept OR lists and invalid values name their parameter. Everything else (batch
 * entries included, which route through the same table) is unchanged.
 */
export function installSearchRoutes(router: FhirRouter): void {
  for (const [method, path, handler] of HANDLERS) {
    const route = router.router.routes.find((r) => r.method === method && pathOf(r.path) === path);
    if (!route) {
      throw new Error(`FhirRouter has no ${method} ${path || '(system)'} route to replace`);
    }
    route.handler = handler;
  }
}
