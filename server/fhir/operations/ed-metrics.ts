import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badRequest, forbidden, OperationOutcomeError } from '@medplum/core';
import type { Bundle, Measure, MeasureReport, Parameters } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { computeMetrics, METRIC_GROUPS as GROUPS, type MetricGroup } from '../analytics/compute.ts';
import type { Window } from '../analytics/load.ts';
import type { MetricFilter } from '../analytics/metrics.ts';
import { REPORT_IDENTIFIER_SYSTEM, toMeasureReports } from '../analytics/reports.ts';
import type { PostgresRepository } from '../repo.ts';
import type { RouteDeps } from './routes.ts';

/**
 * `GET Measure/$ed-metrics?start=&end=&area=&acuity=&tz=&group=&store=`: the ED director's
 * numbers for visits that arrived in [start, end) (docs/analytics.md defines each one). Answers
 * a Parameters resource: `metrics` (the numbers as JSON text, what a dashboard or CSV export
 * reads) and one `report` MeasureReport per Measure of fhir-profiles/measures/. Unless
 * `store=false`, the reports are also saved (one per measure, period and filter: recomputing
 * replaces it). Aggregates over every visit, so the caller must be allowed to search
 * Encounter, Observation and Task without restriction.
 */

const MAX_SPAN_MS = 400 * 24 * 3600_000;
const NEEDED_TYPES = ['Encounter', 'Observation', 'Task', 'DetectedIssue', 'Location'];

export interface MetricsRequest {
  window: Window;
  filter: MetricFilter;
  groups: MetricGroup[];
  store: boolean;
}

type RawParams = Record<string, string | string[] | undefined>;

function one(params: RawParams, name: string): string | undefined {
  const v = params[name];
  if (Array.isArray(v)) {
    throw new OperationOutcomeError(badRequest(`${name} may be given only once`, name));
  }
  return v === '' ? undefined : v;
}

function instant(params: RawParams, name: string): Date {
  const text = one(params, name);
  if (!text) {
    throw new OperationOutcomeError(badRequest(`${name} is required (a date or instant)`, name));
  }
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(d.getTime())) {
    throw new OperationOutcomeError(badRequest(`${name} must be a date or instant, got "${text}"`, name));
  }
  return d;
}

export function parseMetricsRequest(params: RawParams): MetricsRequest {
  const from = instant(params, 'start');
  const to = instant(params, 'end');
  if (to <= from) {
    throw new OperationOutcomeError(badRequest('end must be after start', 'end'));
  }
  if (to.getTime() - from.getTime() > MAX_SPAN_MS) {
    throw new OperationOutcomeError(badRequest('The period may span at most 400 days', 'end'));
  }
  const timeZone = one(params, 'tz') ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new OperationOutcomeError(badRequest(`Unknown time zone "${timeZone}"`, 'tz'));
  }
  const acuityText = one(params, 'acuity');
  const acuity = acuityText?.split(',').map((s) => Number(s.trim()));
  if (acuity?.some((n) => !Number.isInteger(n) || n < 1 || n > 5)) {
    throw new OperationOutcomeError(badRequest(`acuity must be ESI levels 1-5, comma-separated, got "${acuityText}"`, 'acuity'));
  }
  const area = one(params, 'area')?.replace(/^Location\//, '');
  const groupText = one(params, 'group');
  const groups = groupText ? (groupText.split(',') as MetricGroup[]) : GROUPS;
  for (const g of groups) {
    if (!GROUPS.includes(g)) {
      throw new OperationOutcomeError(badRequest(`group must be one of ${GROUPS.join(', ')}, got "${g}"`, 'group'));
    }
  }
  const storeText = one(params, 'store') ?? 'true';
  if (storeText !== 'true' && storeText !== 'false') {
    throw new OperationOutcomeError(badRequest('store must be true or false', 'store'));
  }
  return { window: { from, to, timeZone }, filter: { area, acuity }, groups, store: storeText === 'true' };
}

let measures: Measure[] | undefined;

function measureDefinitions(profilesDir: string): Measure[] {
  if (!measures) {
    const bundle = JSON.parse(readFileSync(join(profilesDir, 'measures', 'ed-measures.json'), 'utf8')) as Bundle<Measure>;
    measures = (bundle.entry ?? []).map((e) => e.resource as Measure);
  }
  return measures;
}

/** Saves the Measures (once per server) and the reports, replacing an earlier report of the same measure, period and filter. */
async function store(
  caller: PostgresRepository,
  system: PostgresRepository,
  profilesDir: string,
  reports: MeasureReport[],
): Promise<MeasureReport[]> {
  for (const measure of measureDefinitions(profilesDir)) {
    await system.conditionalUpdate(measure, {
      resourceType: 'Measure',
      filters: [{ code: 'url', operator: 'eq', value: measure.url as string }],
    });
  }
  const saved: MeasureReport[] = [];
  for (const report of reports) {
    const id = report.identifier?.[0]?.value as string;
    const { resource } = await caller.conditionalUpdate(report, {
      resourceType: 'MeasureReport',
      filters: [{ code: 'identifier', operator: 'eq', value: `${REPORT_IDENTIFIER_SYSTEM}|${id}` }],
    });
    saved.push(resource);
  }
  return saved;
}

export interface EdMetricsDeps extends RouteDeps {
  repo(): PostgresRepository;
}

export function registerEdMetricsRoutes(fastify: FastifyInstance, deps: EdMetricsDeps): void {
  fastify.get('/fhir/R4/Measure/$ed-metrics', async (request: FastifyRequest, reply: FastifyReply) => {
    const req = parseMetricsRequest((request.query ?? {}) as RawParams);
    const caller = deps.repoFor(request);
    for (const type of NEEDED_TYPES) {
      if (caller.access(type, 'search').kind !== 'all') {
        throw new OperationOutcomeError(forbidden);
      }
    }
    const metrics = await computeMetrics(caller, req);
    let reports = toMeasureReports(metrics, {
      start: req.window.from.toISOString(),
      end: req.window.to.toISOString(),
      filter: req.filter,
      timeZone: req.window.timeZone,
      date: new Date().toISOString(),
    });
    if (req.store) {
      reports = await store(caller, deps.repo(), deps.config.profilesDir, reports);
    }
    const body: Parameters = {
      resourceType: 'Parameters',
      parameter: [{ name: 'metrics', valueString: JSON.stringify(metrics) }, ...reports.map((resource) => ({ name: 'report', resource }))],
    };
    return reply.type('application/fhir+json').send(JSON.stringify(body));
  });
}
