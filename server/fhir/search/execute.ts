import { badRequest, getSearchParameter, OperationOutcomeError, Operator, type SearchRequest, type WithId } from '@medplum/core';
import { getExtraEntries, type SearchOptions } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { indexSource } from '../../audit/event-index.ts';
import { isKnownResourceType } from '../definitions.ts';
import type { PostgresRepository } from '../repo.ts';
import { buildFilterCondition, type ConditionContext, filterForType, SqlParams, sortExpression, typeKnowsFilter } from './conditions.ts';
import { driverRank, drivesByIds, isBounded, probeFilters } from './driver.ts';
import { criteriaCondition } from './policy.ts';
import { applySummary } from './summary.ts';

const MAX_OFFSET = 100_000;

interface BuiltQuery {
  where: string;
  orderBy: string;
  params: SqlParams;
  /** How many of `params` the WHERE clause uses (the ORDER BY's follow): a count binds only these. */
  whereParamCount: number;
  ignored: string[];
  /**
   * Whether every type's conditions start from an identifier, an _id or a reference (driver.ts:
   * rank 0 or 1): a few rows by nature, whatever the values, so one plan suits every execution.
   */
  bounded: boolean;
}

function resourceTypesOf(request: SearchRequest): string[] {
  const types = request.types?.length ? request.types : [request.resourceType];
  for (const t of types) {
    if (!isKnownResourceType(t)) {
      throw new OperationOutcomeError(badRequest(`Unknown resource type "${t}"`));
    }
  }
  return types;
}

/**
 * Which resources of a type the caller may see (an AccessPolicy's criteria, say), as SQL on
 * `idExpr` with its values bound through `params`; undefined means all, 'FALSE' none.
 */
export type SearchRestriction = (resourceType: string, params: SqlParams, idExpr: string) => string | undefined;

/**
 * The caller's AccessPolicy as a restriction: types it may search in full need nothing, types
 * limited by criteria get those criteria, other types none of their resources.
 */
export function policyRestriction(repo: PostgresRepository): SearchRestriction | undefined {
  if (!repo.options.policy) {
    return undefined;
  }
  return (resourceType, params, idExpr) => {
    const access = repo.access(resourceType, 'search');
    if (access.kind === 'all') {
      return undefined;
    }
    return access.kind === 'some' ? criteriaCondition(repo, params, resourceType, access.criteria, idExpr) : 'FALSE';
  };
}

/** Conditions of one type of the search, ANDed; one ranked condition drives, the others probe (driver.ts). */
function typeConditions(
  ctx: ConditionContext,
  request: SearchRequest,
  resourceType: string,
  multiType: boolean,
): { sql: string; bounded: boolean } {
  const target = { resourceType, idExpr: 'r.id', rowAlias: 'r' };
  const conds = [`r.resource_type = ${ctx.params.add(resourceType)}`];
  const restriction = ctx.restrict?.(resourceType, 'r.id');
  if (restriction) {
    conds.push(restriction);
  }
  // In a multi-type search a parameter only another of the types defines leaves this type nothing.
  const filters = (request.filters ?? []).map((filter) => {
    if (!multiType) {
      return filter;
    }
    return typeKnowsFilter(resourceType, filter.code) ? filterForType(resourceType, filter) : undefined;
  });
  const ranks = filters.map((f) => (f ? driverRank(resourceType, f) : undefined));
  const probes = probeFilters(ranks);
  filters.forEach((filter, i) => {
    const role = probes[i] ? 'probe' : drivesByIds(ranks[i]) ? 'drive' : undefined;
    conds.push(filter ? buildFilterCondition(role ? { ...ctx, role } : ctx, target, filter) : 'FALSE');
  });
  return { sql: conds.join(' AND '), bounded: isBounded(ranks) };
}

/** In a multi-type search, a parameter none of the types defines is unknown (strict: an error). */
function checkUnknownForAllTypes(ctx: ConditionContext, request: SearchRequest, types: string[]): SearchRequest {
  const filters = (request.filters ?? []).filter((filter) => {
    if (types.some((t) => typeKnowsFilter(t, filter.code))) {
      return true;
    }
    if (ctx.strict) {
      throw new OperationOutcomeError(badRequest(`Unknown search parameter "${filter.code}" for ${types.join(', ')}`, filter.code));
    }
    ctx.ignored.push(filter.code);
    return false;
  });
  return { ...request, filters };
}

/**
 * WHERE and ORDER BY for a search on resource rows aliased `r`, limited to what the caller may
 * see: `restriction`, or by default the repository's AccessPolicy.
 */
export function buildSearchQuery(
  repo: PostgresRepository,
  request: SearchRequest,
  restriction: SearchRestriction | undefined = policyRestriction(repo),
): BuiltQuery {
  const params = new SqlParams();
  const ctx: ConditionContext = {
    params,
    strict: !!repo.options.strictSearch,
    ignored: [],
    fhirBaseUrl: repo.ctx.fhirBaseUrl,
    depth: 0,
    restrict: restriction ? (type, idExpr) => restriction(type, params, idExpr) : undefined,
  };
  const types = resourceTypesOf(request);
  const multiType = !!request.types?.length;
  const effective = multiType ? checkUnknownForAllTypes(ctx, request, types) : request;
  const perType = types.map((resourceType) => typeConditions(ctx, effective, resourceType, multiType));
  const where = `NOT r.deleted AND (${perType.map((c) => `(${c.sql})`).join(' OR ')})`;
  const whereParamCount = params.values.length;
  const order: string[] = [];
  for (const rule of request.sortRules ?? []) {
    if (types.length > 1 && rule.code !== '_id' && rule.code !== '_lastUpdated') {
      throw new OperationOutcomeError(badRequest('Sorting a multi-type search supports only _id and _lastUpdated', '_sort'));
    }
    order.push(sortExpression(ctx, types[0], 'r', rule.code, !!rule.descending));
  }
  // A total order keeps offset paging stable.
  order.push('r.id ASC');
  return {
    where,
    orderBy: order.join(', '),
    params,
    whereParamCount,
    ignored: [...new Set(ctx.ignored)],
    bounded: perType.every((c) => c.bounded),
  };
}

function pageSize(repo: PostgresRepository, request: SearchRequest): number {
  const count = request.count ?? repo.ctx.defaultSearchCount;
  if (!Number.isInteger(count) || count < 0) {
    throw new OperationOutcomeError(badRequest('_count must be a non-negative integer', '_count'));
  }
  return Math.min(count, repo.ctx.maxSearchCount);
}

function pageOffset(request: SearchRequest): number {
  const offset = request.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) {
    throw new OperationOutcomeError(badRequest('_offset must be a non-negative integer', '_offset'));
  }
  if (offset > MAX_OFFSET) {
    throw new OperationOutcomeError(badRequest(`_offset may not exceed ${MAX_OFFSET}; narrow the search instead`, '_offset'));
  }
  return offset;
}

const TOTAL_MODES = new Set(['none', 'estimate', 'accurate']);
/** Below this many estimated rows an exact count is cheap, and better than the planner's guess. */
const ESTIMATE_EXACT_BELOW = 10_000;

async function countTotal(repo: PostgresRepository, q: BuiltQuery, mode: 'accurate' | 'estimate'): Promise<number> {
  // PostgreSQL refuses bind values a statement does not use (it cannot type them).
  const values = q.params.values.slice(0, q.whereParamCount);
  if (mode === 'estimate') {
    const { rows } = await repo.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
      `EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE ${q.where}`,
      values,
    );
    const estimate = Math.round(rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
    if (estimate >= ESTIMATE_EXACT_BELOW) {
      return estimate;
    }
  }
  const { rows } = await repo.query<{ n: string }>(`SELECT count(*) AS n FROM resource r WHERE ${q.where}`, values);
  return Number(rows[0].n);
}

/**
 * Bundle.total: free when this page shows the end of the result; counted when asked for
 * (`_total`, `_summary=count`, `_count=0`); otherwise left out, since counting costs a scan.
 */
async function resolveTotal(
  repo: PostgresRepository,
  request: SearchRequest,
  q: BuiltQuery,
  page: { count: number; offset: number; found: number; hasMore: boolean },
): Promise<number | undefined> {
  const mode = request.total;
  if (mode !== undefined && !TOTAL_MODES.has(mode)) {
    throw new OperationOutcomeError(badRequest('_total must be none, estimate or accurate', '_total'));
  }
  if (mode === 'none') {
    return undefined;
  }
  if (page.count > 0 && !page.hasMore && (page.found > 0 || page.offset === 0)) {
    return page.offset + page.found;
  }
  if (mode === 'accurate' || mode === 'estimate') {
    return countTotal(repo, q, mode);
  }
  return page.count === 0 ? countTotal(repo, q, 'accurate') : undefined;
}

const LINK_PREFIXES = new Set<string>(['ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'sw']);

/**
 * The query of a paging link: every parameter that shaped this page (core's formatSearchQuery
 * drops _summary, and writes parameter names unencoded).
 */
function pageQuery(request: SearchRequest, count: number, offset: number): string {
  const p = new URLSearchParams();
  for (const f of request.filters ?? []) {
    const prefix = LINK_PREFIXES.has(f.operator) ? f.operator : '';
    const modifier = !prefix && f.operator !== Operator.EQUALS ? `:${f.operator}` : '';
    p.append(f.code + modifier, prefix + f.value);
  }
  if (request.sortRules?.length) {
    p.append('_sort', request.sortRules.map((r) => (r.descending ? `-${r.code}` : r.code)).join(','));
  }
  if (request.types?.length) {
    p.append('_type', request.types.join(','));
  }
  for (const [kind, targets] of [
    ['_include', request.include],
    ['_revinclude', request.revInclude],
  ] as const) {
    for (const t of targets ?? []) {
      p.append(kind + (t.modifier ? `:${t.modifier}` : ''), [t.resourceType, t.searchParam, t.targetType].filter(Boolean).join(':'));
    }
  }
  if (request.summary) {
    p.append('_summary', request.summary);
  }
  if (request.fields?.length) {
    p.append('_elements', request.fields.join(','));
  }
  if (request.total) {
    p.append('_total', request.total);
  }
  p.append('_count', String(count));
  if (offset > 0) {
    p.append('_offset', String(offset));
  }
  return p.toString();
}

function pageLink(repo: PostgresRepository, request: SearchRequest, relation: string, count: number, offset: number): BundleLink {
  const path = request.types?.length ? '' : request.resourceType;
  return { relation, url: `${repo.ctx.fhirBaseUrl}${path}?${pageQuery(request, count, offset)}` };
}

function pageLinks(repo: PostgresRepository, request: SearchRequest, count: number, offset: number, hasMore: boolean): BundleLink[] {
  const links: BundleLink[] = [pageLink(repo, request, 'self', count, offset), pageLink(repo, request, 'first', count, 0)];
  if (hasMore) {
    links.push(pageLink(repo, request, 'next', count, offset + count));
  }
  if (offset > 0) {
    links.push(pageLink(repo, request, 'previous', count, Math.max(0, offset - count)));
  }
  return links;
}

function ignoredOutcome(ignored: string[]): BundleEntry {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: ignored.map((code) => ({
      severity: 'warning',
      code: 'not-supported',
      details: { text: `Unknown search parameter "${code}" was ignored` },
      expression: [code],
    })),
  };
  return { resource: outcome, search: { mode: 'outcome' } };
}

/**
 * A _revinclude (or canonical _include) of a type the caller may not search adds nothing: the
 * caller asked for what it may see, and failing the whole search would reveal no more.
 */
function emptyIfForbidden(err: unknown): WithId<Resource>[] {
  if (err instanceof OperationOutcomeError && err.outcome.issue?.[0]?.code === 'forbidden') {
    return [];
  }
  throw err;
}

const INCLUDE_LIMIT_MESSAGE = 'Search with _(rev)include reached query scope limit';
const MAX_INCLUDED = 1000;

/** Include targets must name a reference parameter of their type, whatever the matches are. */
function checkIncludeTargets(request: SearchRequest): void {
  for (const target of [...(request.include ?? []), ...(request.revInclude ?? [])]) {
    const sp = getSearchParameter(target.resourceType, target.searchParam);
    if (sp?.type !== 'reference') {
      throw new OperationOutcomeError(
        badRequest(`Invalid include parameter "${target.resourceType}:${target.searchParam}": not a reference parameter`, '_include'),
      );
    }
    if (target.targetType && !isKnownResourceType(target.targetType)) {
      throw new OperationOutcomeError(badRequest(`Invalid include target type "${target.targetType}"`, '_include'));
    }
  }
}

/** Appends `_include`/`_revinclude` entries; an include set too large to return is the client's 4xx. */
async function addIncludes(repo: PostgresRepository, request: SearchRequest, resources: Resource[], entries: BundleEntry[]): Promise<void> {
  try {
    await getExtraEntries(repo, request, resources, entries, {
      fullUrl: (type, id) => `${repo.ctx.fhirBaseUrl}${type}/${id}`,
      maxResults: MAX_INCLUDED,
      executeSearch: (search) => repo.searchResources(search).catch(emptyIfForbidden),
    });
  } catch (err) {
    if (err instanceof Error && !(err instanceof OperationOutcomeError) && err.message.startsWith(INCLUDE_LIMIT_MESSAGE)) {
      throw new OperationOutcomeError(
        badRequest(`_include/_revinclude would return more than ${MAX_INCLUDED} resources or nest too deep; narrow the search`, '_include'),
      );
    }
    throw err;
  }
}

/** Runs a FHIR search as SQL and assembles the searchset Bundle. */
export async function executeSearch<T extends Resource>(
  repo: PostgresRepository,
  request: SearchRequest<T>,
  options?: SearchOptions,
  restriction?: SearchRestriction,
): Promise<Bundle<WithId<T>>> {
  const count = pageSize(repo, request);
  const offset = pageOffset(request);
  checkIncludeTargets(request);
  const q = buildSearchQuery(repo, request, restriction);
  let resources: WithId<T>[] = [];
  let hasMore = false;
  if (count > 0) {
    // The page size is part of the statement (pageSize() bounds it): a bounded search runs its
    // generic plan (statements.ts), which would cost a LIMIT parameter as a tenth of the rows.
    const { rows } = await repo.searchQuery<{ content: string }>(
      `SELECT r.content FROM resource r WHERE ${q.where} ORDER BY ${q.orderBy} LIMIT ${count + 1} OFFSET $${q.params.values.length + 1}`,
      [...q.params.values, offset],
      q.bounded,
    );
    hasMore = rows.length > count;
    resources = rows.slice(0, count).map((row) => JSON.parse(row.content) as WithId<T>);
  }
  const total = await resolveTotal(repo, request, q, { count, offset, found: resources.length, hasMore });

  const entries: BundleEntry[] = resources.map((resource) => ({
    fullUrl: `${repo.ctx.fhirBaseUrl}${resource.resourceType}/${resource.id}`,
    resource: applySummary(resource, request),
    search: { mode: 'match' },
  }));
  if ((request.include?.length || request.revInclude?.length) && resources.length > 0) {
    await addIncludes(repo, request, resources, entries);
  }
  if (q.ignored.length > 0) {
    entries.push(ignoredOutcome(q.ignored));
  }

  const bundle: Bundle<WithId<T>> = { resourceType: 'Bundle', type: 'searchset', entry: entries as BundleEntry<WithId<T>>[] };
  if (total !== undefined) {
    bundle.total = total;
  }
  if (!options?.resourceOnly) {
    bundle.link = pageLinks(repo, request, count, offset, hasMore);
  }
  return bundle;
}

/** GraphQL's batched reverse lookups: for each reference, the resources pointing at it. */
export async function executeSearchByReference<T extends Resource>(
  repo: PostgresRepository,
  request: SearchRequest<T>,
  referenceField: string,
  references: string[],
  restriction?: SearchRestriction,
): Promise<Record<string, WithId<T>[]>> {
  const result: Record<string, WithId<T>[]> = {};
  for (const ref of references) {
    result[ref] = [];
  }
  if (references.length === 0) {
    return result;
  }
  const q = buildSearchQuery(
    repo,
    { ...request, filters: [...(request.filters ?? []), { code: referenceField, operator: Operator.EQUALS, value: references.join(',') }] },
    restriction,
  );
  const perRef = Math.min(request.count ?? repo.ctx.defaultSearchCount, repo.ctx.maxSearchCount);
  const code = q.params.add(referenceField);
  const refs = q.params.add(references);
  const { rows } = await repo.query<{ content: string; ref: string }>(
    `SELECT content, ref FROM (
       SELECT r.content, x.reference AS ref, row_number() OVER (PARTITION BY x.reference ORDER BY ${q.orderBy}) AS rn
       FROM resource r JOIN ${indexSource('sp_reference', request.resourceType)} x ON x.id = r.id AND x.resource_type = r.resource_type AND x.code = ${code}
       WHERE ${q.where} AND x.reference = ANY(${refs}::text[])
     ) t WHERE rn <= ${q.params.add(perRef)}`,
    q.params.values,
  );
  for (const row of rows) {
    result[row.ref]?.push(JSON.parse(row.content) as WithId<T>);
  }
  return result;
}
