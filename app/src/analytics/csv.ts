import type { Summary } from '../../../server/fhir/analytics/metrics.ts';
import type { AllMetrics } from '../../../server/fhir/analytics/reports.ts';
import { toCsv as encodeCsv } from '../csv.ts';

/** One line of the dashboard's tables: a duration summary, a count or a rate. */
export interface MetricRow {
  group: string;
  metric: string;
  n?: number;
  median?: number | null;
  p90?: number | null;
  count?: number;
  rate?: number | null;
}

const duration = (group: string, metric: string, s: Summary): MetricRow => ({ group, metric, n: s.n, median: s.median, p90: s.p90 });

/** Every metric as table rows (what the tables show and the CSV holds). */
export function metricRows(m: AllMetrics): MetricRow[] {
  const rows: MetricRow[] = [];
  const f = m.flow;
  if (f) {
    rows.push(
      { group: 'flow', metric: 'arrivals', count: f.arrivals },
      duration('flow', 'door-to-triage', f.doorToTriage),
      duration('flow', 'door-to-provider', f.doorToProvider),
      duration('flow', 'triage-to-provider', f.triageToProvider),
      duration('flow', 'length of stay, discharged', f.lengthOfStay.discharged),
      duration('flow', 'length of stay, admitted', f.lengthOfStay.admitted),
      duration('flow', 'boarding', f.boarding),
      { group: 'flow', metric: 'left without being seen', count: f.lwbs.count, rate: f.lwbs.rate },
      { group: 'flow', metric: 'returns within 72 h', count: f.returns72h.count, rate: f.returns72h.rate },
      ...Object.entries(f.acuityMix).map(([esi, count]) => ({
        group: 'acuity mix',
        metric: esi === 'unknown' ? 'ESI unknown' : `ESI ${esi}`,
        count,
        rate: f.arrivals ? Math.round((count / f.arrivals) * 10_000) / 10_000 : null,
      })),
    );
  }
  if (m.alarms) {
    rows.push(
      { group: 'device alarms', metric: 'alarms', count: m.alarms.alarms },
      { group: 'device alarms', metric: 'patient-hours', count: m.alarms.patientHours },
      // Per hour, not a fraction: a value in the count column rather than a percentage.
      { group: 'device alarms', metric: 'alarms per patient-hour', count: m.alarms.perPatientHour ?? undefined },
    );
  }
  if (m.agents) {
    for (const [step, s] of Object.entries(m.agents.steps)) {
      rows.push({ ...duration('agent latency', step, s.latency), count: s.runs });
      rows.push({ group: 'agent failures', metric: step, count: s.failed, rate: s.failureRate });
      rows.push({ group: 'agent skips', metric: step, count: s.skipped });
    }
    const o = m.agents.overrides;
    rows.push(
      { group: 'triage overrides', metric: 'overridden', n: o.triaged, count: o.overridden, rate: o.rate },
      { group: 'triage overrides', metric: 'up-triage (more acute)', count: o.upTriage },
      { group: 'triage overrides', metric: 'down-triage (less acute)', count: o.downTriage },
      { group: 'triage overrides', metric: 'same level', count: o.same },
    );
  }
  return rows;
}

const COLUMNS: (keyof MetricRow)[] = ['group', 'metric', 'n', 'median', 'p90', 'count', 'rate'];
const HEADER = ['group', 'metric', 'n', 'median_min', 'p90_min', 'count', 'rate'];

/** RFC 4180 CSV of the rows, with a comment-free header (spreadsheets read it as is). */
export function toCsv(rows: readonly MetricRow[]): string {
  return encodeCsv([HEADER, ...rows.map((r) => COLUMNS.map((c) => (r[c] === undefined || r[c] === null ? '' : String(r[c]))))]);
}
