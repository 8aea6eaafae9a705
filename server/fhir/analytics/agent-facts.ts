import type { PostgresRepository } from '../repo.ts';
import { aggregateQuery, dayAfter, FILTERED_VISITS, firstEsiInWindow, summaryColumns, windowParams } from './facts.ts';
import type { Window } from './load.ts';
import { type AgentMetrics, type MetricFilter, rate, type StepMetrics, summaryOf } from './metrics.ts';

/**
 * agentMetrics() of the filtered visits in PostgreSQL: per workflow step (Tasks authored in the
 * window or the day after) the runs, latency percentiles of completed runs, failures and skips;
 * and the triage overrides (per visit, the first automated ESI level against the first
 * clinician override).
 */

interface StepRow {
  step: string;
  runs: string;
  ended: string;
  failed: string;
  skipped: string;
  lat_n: string;
  lat_q: number[] | null;
}

interface OverrideRow {
  triaged: string;
  overridden: string;
  up: string;
  down: string;
  same: string;
}

/**
 * Per step: runs, ended, failed and skipped counts, and the latency percentiles of completed runs
 * (latency_ms: migration 0011). Each step fact carries its visit's arrival, ESI level and bed
 * (migration 0013), so the window and filters need no join with the visits; over long periods
 * the (step, latency) index delivers the rows grouped and sorted.
 */
async function stepsFromFacts(repo: PostgresRepository, params: unknown[]): Promise<AgentMetrics['steps']> {
  const { rows } = await aggregateQuery<StepRow>(
    repo,
    `SELECT s.step, count(*) AS runs,
       count(*) FILTER (WHERE s.status IN ('completed', 'failed', 'cancelled')) AS ended,
       count(*) FILTER (WHERE s.status = 'failed') AS failed,
       count(*) FILTER (WHERE s.status = 'cancelled') AS skipped,
       ${summaryColumns('lat', 's.latency_ms', `s.status = 'completed'`)}
     FROM ed_step_fact s
     WHERE s.authored >= $1 AND s.authored < $5 AND s.visit_arrival >= $1 AND s.visit_arrival < $2
       AND ($3::text[] IS NULL OR s.visit_bed = ANY($3::text[])) AND ($4::int[] IS NULL OR s.visit_esi = ANY($4::int[]))
     GROUP BY s.step`,
    params,
  );
  const out: Record<string, StepMetrics> = {};
  for (const r of rows.sort((a, b) => a.step.localeCompare(b.step))) {
    const failed = Number(r.failed);
    out[r.step] = {
      runs: Number(r.runs),
      latency: summaryOf(Number(r.lat_n), r.lat_q?.[0] ?? null, r.lat_q?.[1] ?? null),
      failed,
      failureRate: rate(failed, Number(r.ended)),
      skipped: Number(r.skipped),
    };
  }
  return out;
}

async function overridesFromFacts(repo: PostgresRepository, params: unknown[]): Promise<AgentMetrics['overrides']> {
  // Per visit, the level of its first automated and first override ESI Observation in the window
  // (carried by the visit, migration 0013).
  const { rows } = await aggregateQuery<OverrideRow>(
    repo,
    `WITH ${FILTERED_VISITS},
     per_visit AS (SELECT ${firstEsiInWindow('auto', 'level')} AS auto, ${firstEsiInWindow('over', 'level')} AS over FROM v)
     SELECT count(auto) AS triaged, count(*) FILTER (WHERE auto IS NOT NULL AND over IS NOT NULL) AS overridden,
       count(*) FILTER (WHERE over < auto) AS up, count(*) FILTER (WHERE over > auto) AS down,
       count(*) FILTER (WHERE over = auto) AS same
     FROM per_visit`,
    params,
  );
  const r = rows[0];
  const triaged = Number(r.triaged);
  const overridden = Number(r.overridden);
  return {
    triaged,
    overridden,
    rate: rate(overridden, triaged),
    upTriage: Number(r.up),
    downTriage: Number(r.down),
    same: Number(r.same),
  };
}

export async function agentsFromFacts(
  repo: PostgresRepository,
  w: Window,
  filter: MetricFilter,
  bedsInArea: string[] | undefined,
): Promise<AgentMetrics> {
  const params = [...windowParams(w, filter, bedsInArea), dayAfter(w)];
  const [steps, overrides] = await Promise.all([stepsFromFacts(repo, params), overridesFromFacts(repo, params)]);
  return { steps, overrides };
}
