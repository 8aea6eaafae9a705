import type { Filter } from '@medplum/core';
import type { PostgresRepository } from '../repo.ts';
import { buildFilterCondition, type ConditionContext, SqlParams } from './conditions.ts';

/**
 * SQL for "the resource `idExpr` of `resourceType` matches one of these criteria" (an
 * AccessPolicy's grants: OR of ANDed filters). Criteria come from server configuration, so
 * they are built strictly and without applying a policy to themselves.
 */
export function criteriaCondition(
  repo: PostgresRepository,
  params: SqlParams,
  resourceType: string,
  criteria: Filter[][],
  idExpr: string,
): string {
  if (criteria.length === 0) {
    return 'FALSE';
  }
  const ctx: ConditionContext = {
    params,
    strict: true,
    ignored: [],
    fhirBaseUrl: repo.ctx.fhirBaseUrl,
    depth: 0,
  } as ConditionContext;
  const ors = criteria.map((filters) => {
    if (filters.length === 0) {
      return 'TRUE';
    }
    return `(${filters.map((f) => buildFilterCondition(ctx, { resourceType, idExpr }, f)).join(' AND ')})`;
  });
  return `(${ors.join(' OR ')})`;
}

/** Whether the stored resource matches one of the criteria (evaluated on its search index). */
export async function matchesCriteria(repo: PostgresRepository, resourceType: string, id: string, criteria: Filter[][]): Promise<boolean> {
  return (await matchingIds(repo, resourceType, [id], criteria)).has(id);
}

/** Which of these stored resources match one of the criteria: one query for the whole set. */
export async function matchingIds(
  repo: PostgresRepository,
  resourceType: string,
  ids: string[],
  criteria: Filter[][],
): Promise<Set<string>> {
  const params = new SqlParams();
  const t = params.add(resourceType);
  const i = params.add(ids);
  const cond = criteriaCondition(repo, params, resourceType, criteria, 'r.id');
  const { rows } = await repo.query<{ id: string }>(
    `SELECT r.id FROM resource r WHERE r.resource_type = ${t} AND r.id = ANY(${i}::text[]) AND NOT r.deleted AND ${cond}`,
    params.values,
  );
  return new Set(rows.map((r) => r.id));
}
