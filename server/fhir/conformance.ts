import type { Resource } from '@medplum/fhirtypes';
import type { PostgresRepository } from './repo.ts';

/** Conformance resources are identified by their canonical URL (and version, when they carry one). */
type Canonical = Resource & { url?: string; version?: string };

/**
 * Stores the definitions shipped in fhir-profiles/ (CodeSystems, ValueSets, PlanDefinitions,
 * StructureDefinitions, ...) as resources, so bots and clients read the same workflow and code
 * definitions the server validates with. Matched by canonical URL: an unchanged file writes nothing,
 * an edited one becomes a new version. Returns how many were stored.
 */
export async function storeConformanceResources(repo: PostgresRepository, resources: Resource[]): Promise<number> {
  let stored = 0;
  for (const resource of resources as Canonical[]) {
    if (!resource.url) {
      continue;
    }
    const filters = [{ code: 'url', operator: 'eq' as const, value: resource.url }];
    if (resource.version) {
      filters.push({ code: 'version', operator: 'eq', value: resource.version });
    }
    const { id: _id, meta: _meta, ...content } = resource;
    await repo.conditionalUpdate(content as Resource, { resourceType: resource.resourceType, filters });
    stored++;
  }
  return stored;
}
