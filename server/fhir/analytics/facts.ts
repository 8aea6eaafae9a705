import type { PostgresRepository } from '../repo.ts';
import type { Window } from './load.ts';
import type { AcuityRecord, Alarm, EdVisit, MetricFilter } from './metrics.ts';

/**
 * Reads the metrics' inputs from the ED fact tables (migration 0010: one narrow row per visit,
 * admission, ESI Observation, step Task and device alarm, kept by a trigger in the same statement
 * as the resource write). Rows cross the wire as one delimited text column each: node-pg pays
 * per field, and a year of visits is a hundred thousand rows.
 */

const SEP = '\x1f';
const DAY_MS = 24 * 3600_000;

const ms = (text: string): number | undefined => (text === '' ? undefined : Number(text));
// date_part is double precision (extract is numeric, several times dearer per row); the facts hold whole milliseconds.
const epochMs = (column: string) => `round(date_part('epoch', ${column}) * 1000)::int8`;

/**
 * ED visits that arrived in the window, with their triage time (the first ESI Observation
 * effective in the window or the day after, as load.ts reads it), admission and local arrival
 * hour, weekday and day; `beds` gives each visit's area and zone.
 */
export async function loadVisitFacts(
  repo: PostgresRepository,
  w: Window,
  beds: Map<string, { area?: string; zone?: string }>,
): Promise<EdVisit[]> {
  const { rows } = await repo.query<{ line: string }>(
    `WITH v AS MATERIALIZED (SELECT * FROM ed_visit_fact WHERE arrival >= $1 AND arrival < $2),
     t AS (SELECT encounter, min(at) AS at FROM ed_acuity_fact WHERE at >= $1 AND at < $4 GROUP BY encounter),
     a AS (SELECT visit, min(start) AS start FROM ed_admission_fact GROUP BY visit)
     SELECT concat_ws(E'\\x1f', v.id, ${epochMs('v.arrival')}, coalesce(${epochMs('v.departure')}::text, ''),
       coalesce(v.esi::text, ''), coalesce(v.bed, ''), coalesce(${epochMs('v.provider_at')}::text, ''),
       coalesce(${epochMs('t.at')}::text, ''), CASE WHEN v.lwbs THEN '1' ELSE '' END,
       CASE WHEN a.visit IS NULL THEN '' ELSE '1' END, coalesce(${epochMs('a.start')}::text, ''),
       ${epochMs('v.arrival AT TIME ZONE $3::text')}, coalesce(v.status, ''), coalesce(v.patient, '')) AS line
     FROM v LEFT JOIN t ON t.encounter = v.id LEFT JOIN a ON a.visit = v.id`,
    [w.from.toISOString(), w.to.toISOString(), w.timeZone, new Date(w.to.getTime() + DAY_MS).toISOString()],
  );
  const visits: EdVisit[] = new Array(rows.length);
  const days = new Map<number, string>();
  for (let i = 0; i < rows.length; i++) {
    const f = rows[i].line.split(SEP);
    // The patient reference is last: whatever it holds stays one field.
    const patient = f.slice(12).join(SEP);
    // The local wall-clock time of arrival read as if it were UTC: hour, weekday and day by arithmetic.
    const local = Number(f[10]);
    const dayNo = Math.floor(local / DAY_MS);
    let day = days.get(dayNo);
    if (day === undefined) {
      day = new Date(dayNo * DAY_MS).toISOString().slice(0, 10);
      days.set(dayNo, day);
    }
    const where = f[4] ? beds.get(f[4]) : undefined;
    visits[i] = {
      id: f[0],
      patient: patient === '' ? undefined : patient,
      arrival: Number(f[1]),
      departure: ms(f[2]),
      status: f[11],
      esi: ms(f[3]),
      area: where?.area,
      zone: where?.zone,
      providerAt: ms(f[5]),
      triagedAt: ms(f[6]),
      lwbs: f[7] === '1',
      admitted: f[8] === '1',
      admittedAt: ms(f[9]),
      hour: Math.floor((local - dayNo * DAY_MS) / 3600_000),
      // 1970-01-01 was a Thursday (ISO weekday 4).
      weekday: ((((dayNo + 3) % 7) + 7) % 7) + 1,
      day,
    };
  }
  return visits;
}

/** ESI Observations effective in the window or the day after. */
export async function loadAcuityFacts(repo: PostgresRepository, w: Window): Promise<AcuityRecord[]> {
  const { rows } = await repo.query<{ line: string }>(
    `SELECT concat_ws(E'\\x1f', ${epochMs('at')}, level, CASE WHEN override THEN '1' ELSE '' END, encounter) AS line
     FROM ed_acuity_fact WHERE at >= $1 AND at < $2`,
    [w.from.toISOString(), new Date(w.to.getTime() + DAY_MS).toISOString()],
  );
  return rows.map(({ line }) => {
    const f = line.split(SEP);
    return { at: Number(f[0]), level: Number(f[1]), override: f[2] === '1', encounter: f.slice(3).join(SEP) };
  });
}

/** Device alarms identified in the window. */
export async function loadAlarmFacts(repo: PostgresRepository, w: Window): Promise<Alarm[]> {
  const { rows } = await repo.query<{ line: string }>(
    `SELECT ${epochMs('at')} || E'\\x1f' || patient AS line FROM ed_alarm_fact WHERE at >= $1 AND at < $2`,
    [w.from.toISOString(), w.to.toISOString()],
  );
  return rows.map(({ line }) => {
    const cut = line.indexOf(SEP);
    return { at: Number(line.slice(0, cut)), patient: line.slice(cut + 1) };
  });
}

export interface StepAggregate {
  step: string;
  runs: number;
  ended: number;
  failed: number;
  skipped: number;
  /** Latencies (ms) of the completed runs that have both execution times. */
  latencies: Float64Array;
}

/**
 * Workflow steps authored in the window (or the day after) for the visits that arrived in the
 * window and pass the filter, counted in PostgreSQL; a busy year has eight hundred thousand step
 * Tasks, too many rows to ship to Node, so each step's latencies come as one comma-separated text
 * (no sort in PostgreSQL: Node sorts a typed array, and summarize() applies the definition).
 * `bedsInArea` are the bed ids of the area filter (resolved by the caller from the Locations, as
 * filterVisits reads them).
 */
export async function loadStepAggregates(
  repo: PostgresRepository,
  w: Window,
  filter: MetricFilter,
  bedsInArea: string[] | undefined,
): Promise<StepAggregate[]> {
  const { rows } = await repo.query<{
    step: string;
    runs: string;
    ended: string;
    failed: string;
    skipped: string;
    latencies: string | null;
  }>(
    `WITH v AS (SELECT id FROM ed_visit_fact WHERE arrival >= $1 AND arrival < $2
         AND ($4::text[] IS NULL OR bed = ANY($4)) AND ($5::int[] IS NULL OR esi = ANY($5)))
     SELECT s.step, count(*) AS runs,
       count(*) FILTER (WHERE s.status IN ('completed', 'failed', 'cancelled')) AS ended,
       count(*) FILTER (WHERE s.status = 'failed') AS failed,
       count(*) FILTER (WHERE s.status = 'cancelled') AS skipped,
       string_agg(round((date_part('epoch', s.ended) - date_part('epoch', s.started)) * 1000)::int8::text, ',')
         FILTER (WHERE s.status = 'completed' AND s.ended IS NOT NULL AND s.started IS NOT NULL) AS latencies
     FROM ed_step_fact s JOIN v ON v.id = s.encounter
     WHERE s.authored >= $1 AND s.authored < $3
     GROUP BY s.step`,
    [
      w.from.toISOString(),
      w.to.toISOString(),
      new Date(w.to.getTime() + DAY_MS).toISOString(),
      bedsInArea ?? null,
      filter.acuity?.length ? filter.acuity : null,
    ],
  );
  return rows.map((r) => ({
    step: r.step,
    runs: Number(r.runs),
    ended: Number(r.ended),
    failed: Number(r.failed),
    skipped: Number(r.skipped),
    latencies: r.latencies ? Float64Array.from(r.latencies.split(','), Number) : new Float64Array(0),
  }));
}

/** The bed ids an area filter keeps: beds of that area Location, or of that zone. */
export function bedsInArea(beds: Map<string, { area?: string; zone?: string }>, area: string | undefined): string[] | undefined {
  if (!area) return undefined;
  return [...beds].filter(([, b]) => b.area === area || b.zone === area).map(([id]) => id);
}
