import type { PostgresRepository } from '../repo.ts';
import { aggregateQuery, dayAfter, epochMs, FILTERED_VISITS, firstEsiInWindow, summaryColumns, windowParams } from './facts.ts';
import type { Window } from './load.ts';
import { type FlowMetrics, type MetricFilter, RETURN_WINDOW, rate, type Summary, summaryOf } from './metrics.ts';

/**
 * flowMetrics() of the filtered visits, aggregated in PostgreSQL from the fact tables: one row
 * of counts (per ESI level too) and percentiles, and the arrivals per local hour as a small array.
 * The definitions are those of metrics.ts; facts.int.test.ts holds both equal.
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
  esi_1: string;
  esi_2: string;
  esi_3: string;
  esi_4: string;
  esi_5: string;
  /** Arrivals per local hour: `YYYY-MM-DD HH24 ISODOW` → count. */
  by_local_hour: { k: string; n: number }[];
}

const summary = (n: string, q: number[] | null): Summary => summaryOf(Number(n), q?.[0] ?? null, q?.[1] ?? null);

export async function flowFromFacts(
  repo: PostgresRepository,
  w: Window,
  filter: MetricFilter,
  bedsInArea: string[] | undefined,
): Promise<FlowMetrics> {
  // d: each visit with its triage time (the first ESI Observation in the window or the day after:
  // the earlier of its first automated and first override one), admission (both carried by the
  // visit, migration 0013), and the latest departure (or arrival) of the same patient's earlier
  // visits (from 72 h before the window, unfiltered, as countReturns() reads them). One pass
  // aggregates it; arrivals are counted per local hour, from which Node sums hours, weekdays and days.
  const { rows } = await aggregateQuery<FlowRow>(
    repo,
    `WITH ${FILTERED_VISITS},
     prev AS (SELECT id, max(coalesce(departure, arrival)) OVER (PARTITION BY patient ORDER BY arrival
                RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond' PRECEDING) AS left_at
              FROM ed_visit_fact WHERE arrival >= $1::timestamptz - $7::int8 * interval '1 millisecond' AND arrival < $2 AND patient <> ''),
     d AS (
       SELECT v.lwbs, v.esi, v.departure IS NOT NULL AND NOT v.lwbs AS finished, v.admitted,
         ${epochMs('v.arrival')} AS arr, ${epochMs('v.departure')} AS dep, ${epochMs('v.provider_at')} AS prov,
         ${epochMs(`least(${firstEsiInWindow('auto', 'at')}, ${firstEsiInWindow('over', 'at')})`)} AS tri,
         ${epochMs('v.admitted_at')} AS adm_at, ${epochMs('prev.left_at')} AS prev_left, v.patient <> '' AS has_patient
       FROM v LEFT JOIN prev ON prev.id = v.id
       -- Kept a subquery (not merged into the aggregate), so each visit's triage time is computed
       -- once, not once per aggregate that reads it; and not materialised either.
       OFFSET 0)
     SELECT count(*) AS arrivals, count(*) FILTER (WHERE lwbs) AS lwbs,
       count(*) FILTER (WHERE has_patient AND arr - prev_left <= $7) AS returns,
       ${summaryColumns('d2t', 'tri - arr')},
       ${summaryColumns('d2p', 'prov - arr')},
       ${summaryColumns('t2p', 'prov - tri')},
       ${summaryColumns('losd', 'dep - arr', 'finished AND NOT admitted')},
       ${summaryColumns('losa', 'dep - arr', 'finished AND admitted')},
       ${summaryColumns('board', 'dep - adm_at', 'finished AND admitted')},
       ${[1, 2, 3, 4, 5].map((level) => `count(*) FILTER (WHERE esi = ${level}) AS esi_${level}`).join(', ')},
       (SELECT coalesce(json_agg(json_build_object('k', to_char(h, 'YYYY-MM-DD HH24 ID'), 'n', n)), '[]') FROM
         (SELECT date_trunc('hour', arrival AT TIME ZONE $6::text) AS h, count(*) AS n FROM v GROUP BY 1) x) AS by_local_hour
     FROM d`,
    [...windowParams(w, filter, bedsInArea), dayAfter(w), w.timeZone, RETURN_WINDOW],
  );
  const r = rows[0];
  const arrivals = Number(r.arrivals);
  const lwbs = Number(r.lwbs);
  const returns = Number(r.returns);
  const acuityMix: FlowMetrics['acuityMix'] = {
    '1': Number(r.esi_1),
    '2': Number(r.esi_2),
    '3': Number(r.esi_3),
    '4': Number(r.esi_4),
    '5': Number(r.esi_5),
    unknown: 0,
  };
  acuityMix.unknown = arrivals - acuityMix['1'] - acuityMix['2'] - acuityMix['3'] - acuityMix['4'] - acuityMix['5'];
  const byHour = new Array<number>(24).fill(0);
  const byWeekday = new Array<number>(7).fill(0);
  const byDay = new Map<string, number>();
  for (const { k, n } of r.by_local_hour) {
    const [day, hour, isoWeekday] = k.split(' ');
    byHour[Number(hour)] += n;
    byWeekday[Number(isoWeekday) - 1] += n;
    byDay.set(day, (byDay.get(day) ?? 0) + n);
  }
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
    arrivalsByDay: [...byDay].map(([day, count]) => ({ day, count })).sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)),
  };
}
