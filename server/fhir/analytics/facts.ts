import type { QueryResult, QueryResultRow } from 'pg';
import type { PostgresRepository } from '../repo.ts';
import type { Window } from './load.ts';
import type { MetricFilter } from './metrics.ts';

/**
 * What the fact-table queries (flow-facts.ts, alarm-facts.ts, agent-facts.ts) share: the
 * parameters of a window and filter, and the visits they select. A year of a busy ED is a
 * hundred thousand visits and eight hundred thousand step Tasks, so every metric is aggregated in
 * PostgreSQL (counts, percentile_cont, which interpolates like quantile()) and Node receives a
 * few numbers per metric, never the rows.
 */

const DAY_MS = 24 * 3600_000;

/** Epoch milliseconds of a timestamptz, as int8: date_part is double precision (extract is numeric, dearer per row); the facts hold whole milliseconds. */
export const epochMs = (column: string) => `round(date_part('epoch', ${column}) * 1000)::int8`;

/**
 * Median and 90th percentile (one sort) and n of the non-negative values of an int8 millisecond
 * expression where `when` holds, as in summarize(): `<name>_n`, `<name>_q` (float8[2]).
 */
export function summaryColumns(name: string, ms: string, when = 'true'): string {
  const keep = `(${ms}) >= 0 AND (${when})`;
  return `count(*) FILTER (WHERE ${keep}) AS ${name}_n,
    percentile_cont('{0.5,0.9}'::float8[]) WITHIN GROUP (ORDER BY (${ms})::float8) FILTER (WHERE ${keep}) AS ${name}_q`;
}

/**
 * The first parameters of every fact query: $1 from, $2 to, $3 the bed ids of the area filter
 * (NULL: no area filter), $4 the ESI levels of the acuity filter (NULL: any).
 */
export function windowParams(w: Window, filter: MetricFilter, bedsInArea: string[] | undefined): unknown[] {
  return [w.from.toISOString(), w.to.toISOString(), bedsInArea ?? null, filter.acuity?.length ? filter.acuity : null];
}

/** One day after the window: ESI Observations and step Tasks follow arrival, so their window ends a day late. */
export const dayAfter = (w: Window): string => new Date(w.to.getTime() + DAY_MS).toISOString();

/** `v`: the ED visits that arrived in the window and pass the filter (filterVisits() in SQL); read where used, never copied to a temporary store. */
export const FILTERED_VISITS = `v AS NOT MATERIALIZED (
  SELECT * FROM ed_visit_fact WHERE arrival >= $1 AND arrival < $2
    AND ($3::text[] IS NULL OR bed = ANY($3::text[])) AND ($4::int[] IS NULL OR esi = ANY($4::int[])))`;

/**
 * The first automated (`kind` 'auto') or override ('over') ESI Observation of visit `v` effective in
 * the window or the day after ($1 … $5), as `what` ('at' or 'level'). The visit carries the first
 * of each kind over all time (migration 0013): when that one is in the window it is the answer;
 * when it is a day or more after the window none is; only when it precedes the window (a clock
 * error, or a visit at the window's start triaged before it) are the visit's ESI facts read.
 */
export function firstEsiInWindow(kind: 'auto' | 'over', what: 'at' | 'level'): string {
  const at = `v.${kind}_at`;
  const fallback =
    what === 'at'
      ? `(SELECT min(a.at) FROM ed_acuity_fact a WHERE a.encounter = v.id AND a.override = ${kind === 'over'} AND a.at >= $1 AND a.at < $5)`
      : `(SELECT a.level FROM ed_acuity_fact a WHERE a.encounter = v.id AND a.override = ${kind === 'over'} AND a.at >= $1 AND a.at < $5
          ORDER BY a.at, a.id LIMIT 1)`;
  return `CASE WHEN ${at} IS NULL OR ${at} >= $5 THEN NULL WHEN ${at} >= $1 THEN v.${kind}_${what} ELSE ${fallback} END`;
}

/** The bed ids an area filter keeps: beds of that area Location, or of that zone. */
export function bedsInArea(beds: Map<string, { area?: string; zone?: string }>, area: string | undefined): string[] | undefined {
  if (!area) return undefined;
  return [...beds].filter(([, b]) => b.area === area || b.zone === area).map(([id]) => id);
}

/**
 * Runs one aggregate query over the facts in its own transaction without JIT compilation: on
 * queries of this size it costs more than it saves (tens of milliseconds per query, and seconds
 * when a join's row estimate goes wrong and the planner also asks for inlining and optimisation).
 * SET LOCAL semantics (set_config(..., true)): the pooled connection gets its setting back at commit.
 */
export function aggregateQuery<R extends QueryResultRow>(
  repo: PostgresRepository,
  sql: string,
  params: unknown[],
): Promise<QueryResult<R>> {
  return repo.withTransaction(async (tx) => {
    await tx.query(`SELECT set_config('jit', 'off', true)`);
    return tx.query<R>(sql, params);
  });
}
