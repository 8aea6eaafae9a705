import type { PostgresRepository } from '../repo.ts';
import type { MetricsQuery } from './compute.ts';
import { applyTriageTimes, loadAcuity, loadAdmissions, loadAlarms, loadBeds, loadSteps, loadVisits } from './load.ts';
import { agentMetrics, alarmMetrics, filterVisits, flowMetrics } from './metrics.ts';
import type { AllMetrics } from './reports.ts';

/**
 * The metrics computed from the stored resources themselves (their JSON and search index rows),
 * definition by definition, with no fact table involved: the yardstick the fact-table path
 * (compute.ts) is tested against. Too slow for a year of data, which is why the facts exist.
 */
export async function computeMetricsFromResources(repo: PostgresRepository, q: MetricsQuery): Promise<AllMetrics> {
  const wants = (group: string) => q.groups.includes(group as MetricsQuery['groups'][number]);
  const beds = await loadBeds(repo);
  const earlierWindow = { ...q.window, from: new Date(q.window.from.getTime() - 72 * 3600_000), to: q.window.from };
  const all = await loadVisits(repo, q.window, beds);
  const acuity = await loadAcuity(repo, q.window);
  const steps = await loadSteps(repo, q.window);
  const alarms = await loadAlarms(repo, q.window);
  const earlier = await loadVisits(repo, earlierWindow, beds);
  await loadAdmissions(repo, all);
  applyTriageTimes(all, acuity);
  const visits = filterVisits(all, q.filter);
  const out: AllMetrics = {};
  if (wants('flow')) out.flow = flowMetrics(visits, [...earlier, ...all]);
  if (wants('alarms')) out.alarms = alarmMetrics(visits, alarms, q.window.from.getTime(), q.window.to.getTime());
  if (wants('agents')) out.agents = agentMetrics(new Set(visits.map((v) => v.id)), steps, acuity);
  return out;
}
