import type { MeasureReport, MeasureReportGroup, MeasureReportGroupPopulation } from '@medplum/fhirtypes';
import type { AgentMetrics, AlarmMetrics, FlowMetrics, MetricFilter, Summary } from './metrics.ts';

/** The metrics as `MeasureReport`s against the Measures in fhir-profiles/measures/ (pure: no I/O). */

const ES = 'https://emergisphere.dev/fhir';
export const MEASURE_BASE = `${ES}/Measure/`;
export const REPORT_IDENTIFIER_SYSTEM = `${ES}/measure-report`;
export const FILTER_EXTENSION = `${ES}/StructureDefinition/measure-report-filter`;
const POPULATION = 'http://terminology.hl7.org/CodeSystem/measure-population';
const STEP_SYSTEM = `${ES}/CodeSystem/workflow-step`;

export interface AllMetrics {
  flow?: FlowMetrics;
  alarms?: AlarmMetrics;
  agents?: AgentMetrics;
}

export interface ReportContext {
  start: string;
  end: string;
  filter: MetricFilter;
  timeZone: string;
  date: string;
}

const pop = (code: string, count: number): MeasureReportGroupPopulation => ({
  code: { coding: [{ system: POPULATION, code }] },
  count,
});
const minutes = (value: number | null) =>
  value === null ? undefined : { value, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' };

function durationGroups(s: Summary): MeasureReportGroup[] {
  return (['median', 'p90'] as const).map((stat) => ({
    code: { text: stat },
    population: [pop('measure-population', s.n)],
    ...(s[stat] === null ? {} : { measureScore: minutes(s[stat]) }),
  }));
}

function strata(code: string, counts: Record<string, number>) {
  return {
    code: [{ text: code }],
    stratum: Object.entries(counts).map(([value, count]) => ({ value: { text: value }, population: [pop('initial-population', count)] })),
  };
}

/** The filter the report was computed with, as a stable text (also part of the report's identifier). */
export function filterText(ctx: ReportContext): string {
  const parts = [`tz=${ctx.timeZone}`];
  if (ctx.filter.area) parts.push(`area=${ctx.filter.area}`);
  if (ctx.filter.acuity?.length) parts.push(`acuity=${ctx.filter.acuity.join(',')}`);
  return parts.join('&');
}

function report(code: string, ctx: ReportContext, group: MeasureReportGroup[]): MeasureReport {
  const filter = filterText(ctx);
  return {
    resourceType: 'MeasureReport',
    identifier: [{ system: REPORT_IDENTIFIER_SYSTEM, value: `${code}|${ctx.start}|${ctx.end}|${filter}` }],
    status: 'complete',
    type: 'summary',
    measure: `${MEASURE_BASE}${code}`,
    date: ctx.date,
    period: { start: ctx.start, end: ctx.end },
    extension: [{ url: FILTER_EXTENSION, valueString: filter }],
    group,
  };
}

export function toMeasureReports(metrics: AllMetrics, ctx: ReportContext): MeasureReport[] {
  const out: MeasureReport[] = [];
  const f = metrics.flow;
  if (f) {
    out.push(report('ed-door-to-triage', ctx, durationGroups(f.doorToTriage)));
    out.push(report('ed-door-to-provider', ctx, durationGroups(f.doorToProvider)));
    out.push(report('ed-triage-to-provider', ctx, durationGroups(f.triageToProvider)));
    out.push(report('ed-los-discharged', ctx, durationGroups(f.lengthOfStay.discharged)));
    out.push(report('ed-los-admitted', ctx, durationGroups(f.lengthOfStay.admitted)));
    out.push(report('ed-boarding', ctx, durationGroups(f.boarding)));
    for (const [code, value] of [
      ['ed-lwbs', f.lwbs],
      ['ed-returns-72h', f.returns72h],
    ] as const) {
      out.push(
        report(code, ctx, [
          {
            population: [pop('numerator', value.count), pop('denominator', f.arrivals)],
            ...(value.rate === null ? {} : { measureScore: { value: value.rate } }),
          },
        ]),
      );
    }
    out.push(
      report('ed-acuity-mix', ctx, [{ population: [pop('initial-population', f.arrivals)], stratifier: [strata('esi', f.acuityMix)] }]),
    );
    out.push(
      report('ed-arrivals', ctx, [
        {
          population: [pop('initial-population', f.arrivals)],
          stratifier: [
            strata('hour', Object.fromEntries(f.arrivalsByHour.map((n, h) => [String(h), n]))),
            strata('weekday', Object.fromEntries(f.arrivalsByWeekday.map((n, d) => [String(d + 1), n]))),
          ],
        },
      ]),
    );
  }
  const a = metrics.alarms;
  if (a) {
    out.push(
      report('ed-device-alarms', ctx, [
        {
          population: [pop('numerator', a.alarms), pop('denominator', Math.round(a.patientHours))],
          ...(a.perPatientHour === null
            ? {}
            : { measureScore: { value: a.perPatientHour, unit: '/h', system: 'http://unitsofmeasure.org', code: '/h' } }),
        },
      ]),
    );
  }
  const g = metrics.agents;
  if (g) {
    const steps: MeasureReportGroup[] = Object.entries(g.steps).map(([step, s]) => ({
      code: { coding: [{ system: STEP_SYSTEM, code: step }] },
      population: [pop('initial-population', s.runs), pop('numerator', s.failed), pop('denominator-exclusion', s.skipped)],
      ...(s.latency.median === null ? {} : { measureScore: minutes(s.latency.median) }),
      stratifier: [
        {
          code: [{ text: 'latency' }],
          stratum: (['median', 'p90'] as const)
            .filter((stat) => s.latency[stat] !== null)
            .map((stat) => ({ value: { text: stat }, measureScore: minutes(s.latency[stat]) })),
        },
      ],
    }));
    const o = g.overrides;
    steps.push({
      code: { text: 'triage-override' },
      population: [pop('numerator', o.overridden), pop('denominator', o.triaged)],
      ...(o.rate === null ? {} : { measureScore: { value: o.rate } }),
      stratifier: [strata('direction', { up: o.upTriage, down: o.downTriage, same: o.same })],
    });
    out.push(report('ed-agent-performance', ctx, steps));
  }
  return out;
}
