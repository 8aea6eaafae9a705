import type { PostgresRepository } from '../repo.ts';
import { aggregateQuery, epochMs, FILTERED_VISITS, windowParams } from './facts.ts';
import type { Window } from './load.ts';
import type { AlarmMetrics, MetricFilter } from './metrics.ts';

/**
 * alarmMetrics() of the filtered visits in PostgreSQL: the patient-time of their ED stays within
 * the window (an open visit counts until the window's end), and the device alarms raised during
 * one of those stays.
 */
export async function alarmsFromFacts(
  repo: PostgresRepository,
  w: Window,
  filter: MetricFilter,
  bedsInArea: string[] | undefined,
): Promise<AlarmMetrics> {
  const { rows } = await aggregateQuery<{ stay_ms: string; alarms: string }>(
    repo,
    `WITH ${FILTERED_VISITS},
     s AS MATERIALIZED (
       SELECT patient, greatest(arrival, $1::timestamptz) AS s, least(coalesce(departure, $2::timestamptz), $2::timestamptz) AS e
       FROM v WHERE patient <> '' AND least(coalesce(departure, $2::timestamptz), $2::timestamptz) > greatest(arrival, $1::timestamptz))
     SELECT (SELECT coalesce(sum(${epochMs('e')} - ${epochMs('s')}), 0) FROM s) AS stay_ms,
       (SELECT count(*) FROM ed_alarm_fact a WHERE a.at >= $1 AND a.at < $2
          AND EXISTS (SELECT 1 FROM s WHERE s.patient = a.patient AND a.at >= s.s AND a.at < s.e)) AS alarms`,
    windowParams(w, filter, bedsInArea),
  );
  const count = Number(rows[0].alarms);
  const hours = Number(rows[0].stay_ms) / 3_600_000;
  return {
    alarms: count,
    patientHours: Math.round(hours * 10) / 10,
    perPatientHour: hours > 0 ? Math.round((count / hours) * 1000) / 1000 : null,
  };
}
