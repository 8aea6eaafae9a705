import type { PostgresRepository } from '../repo.ts';
import { agentsFromFacts } from './agent-facts.ts';
import { alarmsFromFacts } from './alarm-facts.ts';
import { bedsInArea } from './facts.ts';
import { flowFromFacts } from './flow-facts.ts';
import { loadBeds, type Window } from './load.ts';
import type { MetricFilter } from './metrics.ts';
import type { AllMetrics } from './reports.ts';

export type MetricGroup = 'flow' | 'alarms' | 'agents';
export const METRIC_GROUPS: MetricGroup[] = ['flow', 'alarms', 'agents'];

export interface MetricsQuery {
  window: Window;
  filter: MetricFilter;
  groups: MetricGroup[];
}

/**
 * Computes the requested metric groups from the ED fact tables, aggregated in PostgreSQL
 * (flow-facts.ts, alarm-facts.ts, agent-facts.ts) with the definitions of metrics.ts;
 * facts.int.test.ts holds them equal to those definitions applied to the resources themselves.
 */
export async function computeMetrics(repo: PostgresRepository, q: MetricsQuery): Promise<AllMetrics> {
  const wants = (group: MetricGroup) => q.groups.includes(group);
  const beds = bedsInArea(await loadBeds(repo), q.filter.area);
  // Independent queries on separate connections: two cores work at once.
  const [flow, alarms, agents] = await Promise.all([
    wants('flow') ? flowFromFacts(repo, q.window, q.filter, beds) : undefined,
    wants('alarms') ? alarmsFromFacts(repo, q.window, q.filter, beds) : undefined,
    wants('agents') ? agentsFromFacts(repo, q.window, q.filter, beds) : undefined,
  ]);
  const out: AllMetrics = {};
  if (flow) out.flow = flow;
  if (alarms) out.alarms = alarms;
  if (agents) out.agents = agents;
  return out;
}
