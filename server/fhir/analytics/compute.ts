import type { PostgresRepository } from '../repo.ts';
import { bedsInArea, loadAcuityFacts, loadAlarmFacts, loadStepAggregates, loadVisitFacts } from './facts.ts';
import { loadBeds, type Window } from './load.ts';
import { alarmMetrics, filterVisits, flowMetrics, type MetricFilter, overrideMetrics, stepMetricsOf } from './metrics.ts';
import type { AllMetrics } from './reports.ts';

export type MetricGroup = 'flow' | 'alarms' | 'agents';
export const METRIC_GROUPS: MetricGroup[] = ['flow', 'alarms', 'agents'];

export interface MetricsQuery {
  window: Window;
  filter: MetricFilter;
  groups: MetricGroup[];
}

const RETURN_LOOKBACK_MS = 72 * 3600_000;

/**
 * Computes the requested metric groups from the ED fact tables (facts.ts). The definitions are
 * the pure functions of metrics.ts; only step latencies are aggregated in SQL, with the same
 * rules (from-resources.test.ts holds both paths equal on awkward data).
 */
export async function computeMetrics(repo: PostgresRepository, q: MetricsQuery): Promise<AllMetrics> {
  const wants = (group: MetricGroup) => q.groups.includes(group);
  const beds = await loadBeds(repo);
  const earlierWindow = { ...q.window, from: new Date(q.window.from.getTime() - RETURN_LOOKBACK_MS), to: q.window.from };
  // Independent reads on separate connections: PostgreSQL works while Node splits rows.
  const [all, earlier, acuity, steps, alarms] = await Promise.all([
    loadVisitFacts(repo, q.window, beds),
    wants('flow') ? loadVisitFacts(repo, earlierWindow, beds) : [],
    wants('agents') ? loadAcuityFacts(repo, q.window) : [],
    wants('agents') ? loadStepAggregates(repo, q.window, q.filter, bedsInArea(beds, q.filter.area)) : [],
    wants('alarms') ? loadAlarmFacts(repo, q.window) : [],
  ]);
  const visits = filterVisits(all, q.filter);
  const out: AllMetrics = {};
  if (wants('flow')) {
    out.flow = flowMetrics(visits, [...earlier, ...all]);
  }
  if (wants('alarms')) {
    out.alarms = alarmMetrics(visits, alarms, q.window.from.getTime(), q.window.to.getTime());
  }
  if (wants('agents')) {
    out.agents = { steps: stepMetricsOf(steps), overrides: overrideMetrics(new Set(visits.map((v) => v.id)), acuity) };
  }
  return out;
}
