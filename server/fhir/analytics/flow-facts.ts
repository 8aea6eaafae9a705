import type { PostgresRepository } from '../repo.ts';
import { aggregateQuery, dayAfter, epochMs, FILTERED_VISITS, summaryColumns, windowParams } from './facts.ts';
import type { Window } from './load.ts';
import { type FlowMetrics, type MetricFilter, RETURN_WINDOW, rate, type Summary, summaryOf } from './metrics.ts';

/**
 * flowMetrics() of the filtered visits, aggregated in PostgreSQL from the fact tables: one row
 * of counts and percentiles, and the arrivals per hour, weekday, day and ESI level as small
 * arrays. The definitions are those of metrics.ts; facts.int.test.ts holds both equal.
 */

interface FlowRow {
  arrivals: string;
  lwbs: string;
  returns: string;
  d2t_n: string;
  d2t_q: number[] | null;
  d2p_n: string;
  d2p_q: number[] | null;
  t2p_n: string;
  t2p_q: number[] | null;
  losd_n: string;
  losd_q: number[] | null;
  losa_n: string;
  losa_q: number[] | null;
  board_n: string;
  board_q: number[] | null;
  by_hour: { k: number; n: number }[];
  by_weekday: { k: number; n: number }[];
  by_day: { k: string; n: number }[];
  by_esi: { k: string; n: number }[];
}

const summary = (n: string, q: number[] | null): Summary => summaryOf(Number(n), q?.[0] ?? null, q?.[1] ?? null);

export async function flowFromFacts(
  repo: PostgresRepository,
  w: Window,
  filter: MetricFilter,
  bedsInArea: string[] | undefined,
): Promise<FlowMetrics> {
  // d: each visit with its triage time (the first ESI Observation in the window or the day after),
  // admission, the latest departure (or arrival) of the same patient's earlier visits (from 72 h
  // before the window, unfiltered, as countReturns() reads them) and its local arrival time.
  const { rows } = await aggregateQuery<FlowRow>(
    repo,
    `WITH ${FILTERED_VISITS},
     t AS (SELECT encounter, min(at) AS at FROM ed_acuity_fact WHERE at >= $1 AND at < $5 GROUP BY encounter),
     adm AS (SELECT visit, min(start) AS start FROM ed_admission_fact GROUP BY visit),
     prev AS (SELECT id, max(coalesce(departure, arrival)) OVER (PARTITION BY patient ORDER BY arrival
                RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond' PRECEDING) AS left_at
              FROM ed_visit_fact WHERE arrival >= $1::timestamptz - $7::int8 * interval '1 millisecond' AND arrival < $2 AND patient <> ''),
     d AS MATERIALIZED (
       SELECT v.lwbs, v.esi, v.departure IS NOT NULL AND NOT v.lwbs AS finished, adm.visit IS NOT NULL AS admitted,
         ${epochMs('v.arrival')} AS arr, ${epochMs('v.departure')} AS dep, ${epochMs('v.provider_at')} AS prov,
         ${epochMs('t.at')} AS tri, ${epochMs('adm.start')} AS adm_at, ${epochMs('prev.left_at')} AS prev_left,
         v.patient <> '' AS has_patient, v.arrival AT TIME ZONE $6::text AS local
       FROM v LEFT JOIN t ON t.encounter = v.id LEFT JOIN adm ON adm.visit = v.id LEFT JOIN prev ON prev.id = v.id)
     SELECT
       (SELECT count(*) FROM d) AS arrivals,
       (SELECT count(*) FILTER (WHERE lwbs) FROM d) AS lwbs,
       (SELECT count(*) FILTER (WHERE has_patient AND arr - prev_left <= $7) FROM d) AS returns,
       s.*,
       (SELECT coalesce(json_agg(json_build_object('k', k, 'n', n)), '[]') FROM
         (SELECT extract(hour FROM local)::int AS k, count(*) AS n FROM d GROUP BY 1) x) AS by_hour,
       (SELECT coalesce(json_agg(json_build_object('k', k, 'n', n)), '[]') FROM
         (SELECT extract(isodow FROM local)::int AS k, count(*) AS n FROM d GROUP BY 1) x) AS by_weekday,
       (SELECT coalesce(json_agg(json_build_object('k', k, 'n', n)), '[]') FROM
         (SELECT to_char(local, 'YYYY-MM-DD') AS k, count(*) AS n FROM d GROUP BY 1) x) AS by_day,
       (SELECT coalesce(json_agg(json_build_object('k', k, 'n', n)), '[]') FROM
         (SELECT CASE WHEN esi BETWEEN 1 AND 5 THEN esi::text ELSE 'unknown' END AS k, count(*) AS n FROM d GROUP BY 1) x) AS by_esi
     FROM (SELECT
       ${summaryColumns('d2t', 'tri - arr')},
       ${summaryColumns('d2p', 'prov - arr')},
       ${summaryColumns('t2p', 'prov - tri')},
       ${summaryColumns('losd', 'dep - arr', 'finished AND NOT admitted')},
       ${summaryColumns('losa', 'dep - arr', 'finished AND admitted')},
       ${summaryColumns('board', 'dep - adm_at', 'finished AND admitted')}
       FROM d) s`,
    [...windowParams(w, filter, bedsInArea), dayAfter(w), w.timeZone, RETURN_WINDOW],
  );
  const r = rows[0];
  const arrivals = Number(r.arrivals);
  const lwbs = Number(r.lwbs);
  const returns = Number(r.returns);
  const acuityMix: FlowMetrics['acuityMix'] = { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0, unknown: 0 };
  for (const { k, n } of r.by_esi) acuityMix[k as keyof FlowMetrics['acuityMix']] = n;
  const byHour = new Array<number>(24).fill(0);
  for (const { k, n } of r.by_hour) byHour[k] = n;
  const byWeekday = new Array<number>(7).fill(0);
  for (const { k, n } of r.by_weekday) byWeekday[k - 1] = n;
  return {
    arrivals,
    doorToTriage: summary(r.d2t_n, r.d2t_q),
    doorToProvider: summary(r.d2p_n, r.d2p_q),
    triageToProvider: summary(r.t2p_n, r.t2p_q),
    lengthOfStay: { discharged: summary(r.losd_n, r.losd_q), admitted: summary(r.losa_n, r.losa_q) },
    boarding: summary(r.board_n, r.board_q),
    lwbs: { count: lwbs, rate: rate(lwbs, arrivals) },
    returns72h: { count: returns, rate: rate(returns, arrivals) },
    acuityMix,
    arrivalsByHour: byHour,
    arrivalsByWeekday: byWeekday,
    arrivalsByDay: r.by_day.map(({ k, n }) => ({ day: k, count: n })).sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)),
  };
}
