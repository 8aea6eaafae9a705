import type { Encounter, Location, Observation, Task } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repo.ts';
import type { AcuityRecord, Alarm, EdVisit, StepRun } from './metrics.ts';

/**
 * Reads the facts the metrics need, for the ED visits that arrived in [from, to). Visits come
 * from the Encounter date index (period.start) with a few JSON paths of their stored content;
 * steps and alarms come from the search index tables alone (no resource JSON), which is what
 * keeps a year of a busy ED within a second per query.
 */

const ES = 'https://emergisphere.dev/fhir';
const ESI_SYSTEM = `${ES}/CodeSystem/esi`;
const OBSERVATION_CODE = `${ES}/CodeSystem/observation-code`;
const STEP_SYSTEM = `${ES}/CodeSystem/workflow-step`;
const LWBS_RE = /\blwbs\b|without being seen/i;

export interface Window {
  from: Date;
  to: Date;
  /** IANA time zone for arrival hour and weekday. */
  timeZone: string;
}

interface VisitRow {
  id: string;
  content: string;
  hour: number;
  dow: number;
  day: string;
}

/** Bed Location id → its area (the `partOf` Location id) and zone code. */
export async function loadBeds(repo: PostgresRepository): Promise<Map<string, { area?: string; zone?: string }>> {
  const { rows } = await repo.query<{ id: string; content: string }>(
    `SELECT r.id, r.content FROM resource r WHERE r.resource_type = 'Location' AND NOT r.deleted`,
  );
  const beds = new Map<string, { area?: string; zone?: string }>();
  for (const row of rows) {
    const loc = JSON.parse(row.content) as Location;
    const area = loc.partOf?.reference?.replace(/^Location\//, '');
    const zone = loc.type?.flatMap((t) => t.coding ?? []).find((c) => c.system === `${ES}/CodeSystem/bed-zone`)?.code;
    beds.set(row.id, { area, zone });
  }
  return beds;
}

/**
 * ED visits (Encounter class EMER) that arrived in the window. The stored JSON is parsed here
 * rather than as jsonb in PostgreSQL: V8 parses it several times faster, and the rows are needed
 * whole anyway.
 */
export async function loadVisits(
  repo: PostgresRepository,
  w: Window,
  beds: Map<string, { area?: string; zone?: string }>,
): Promise<EdVisit[]> {
  const { rows } = await repo.query<VisitRow>(
    `WITH d AS MATERIALIZED (
       SELECT id, lo FROM sp_date WHERE resource_type = 'Encounter' AND code = 'date' AND lo >= $1 AND lo < $2)
     SELECT r.id, r.content,
       extract(hour FROM d.lo AT TIME ZONE $3::text)::int AS hour, extract(isodow FROM d.lo AT TIME ZONE $3::text)::int AS dow,
       to_char(d.lo AT TIME ZONE $3::text, 'YYYY-MM-DD') AS day
     FROM d JOIN resource r ON r.resource_type = 'Encounter' AND r.id = d.id AND NOT r.deleted`,
    [w.from.toISOString(), w.to.toISOString(), w.timeZone],
  );
  const visits: EdVisit[] = [];
  for (const row of rows) {
    const e = JSON.parse(row.content) as Encounter;
    if (!e.period?.start || e.class?.code !== 'EMER') continue;
    const bed = e.location?.at(-1)?.location?.reference?.replace(/^Location\//, '');
    const where = bed ? beds.get(bed) : undefined;
    const disposition = e.hospitalization?.dischargeDisposition;
    const lwbs =
      e.status === 'cancelled' &&
      !!disposition?.coding?.some((c) => c.code === 'oth') &&
      LWBS_RE.test(`${disposition.text ?? ''} ${disposition.coding?.map((c) => c.display ?? '').join(' ')}`);
    let providerAt: number | undefined;
    for (const p of e.participant ?? []) {
      const t = p.period?.start ? Date.parse(p.period.start) : Number.NaN;
      if (!Number.isNaN(t) && (providerAt === undefined || t < providerAt)) providerAt = t;
    }
    const esi = e.priority?.coding?.find((c) => c.system === ESI_SYSTEM)?.code;
    visits.push({
      id: row.id,
      patient: e.subject?.reference,
      arrival: Date.parse(e.period.start),
      departure: e.period.end ? Date.parse(e.period.end) : undefined,
      status: e.status,
      esi: esi ? Number(esi) : undefined,
      area: where?.area,
      zone: where?.zone,
      providerAt,
      lwbs,
      admitted: false,
      hour: row.hour,
      weekday: row.dow,
      day: row.day,
    });
  }
  return visits;
}

/** ESI Observations effective in the window (and a day after): levels, times, and whether each was a clinician override. */
export async function loadAcuity(repo: PostgresRepository, w: Window): Promise<AcuityRecord[]> {
  // Both index ranges are materialised and hash-joined: probing the token index per
  // Observation is several times slower. ESI Observations follow arrival, so the window ends a day late.
  const { rows } = await repo.query<{ content: string }>(
    `WITH t AS MATERIALIZED (
       SELECT id FROM sp_token WHERE resource_type = 'Observation' AND code = 'code' AND value = 'esi' AND system = $3),
       a AS MATERIALIZED (
       SELECT id FROM sp_date WHERE resource_type = 'Observation' AND code = 'date' AND lo >= $1 AND lo < $2)
     SELECT r.content FROM a JOIN t ON t.id = a.id
     JOIN resource r ON r.resource_type = 'Observation' AND r.id = a.id AND NOT r.deleted`,
    [w.from.toISOString(), new Date(w.to.getTime() + 24 * 3600_000).toISOString(), OBSERVATION_CODE],
  );
  const out: AcuityRecord[] = [];
  for (const row of rows) {
    const o = JSON.parse(row.content) as Observation;
    const encounter = o.encounter?.reference?.replace(/^Encounter\//, '');
    const level = o.valueCodeableConcept?.coding?.find((c) => c.system === ESI_SYSTEM)?.code;
    if (!encounter || !o.effectiveDateTime || !level) continue;
    const method = o.method?.coding?.[0]?.code;
    out.push({ encounter, at: Date.parse(o.effectiveDateTime), level: Number(level), override: method === 'clinician-override' });
  }
  return out;
}

/** Marks admitted visits: an inpatient Encounter has `partOf` = the visit; its `period.start` is the admission decision. */
export async function loadAdmissions(repo: PostgresRepository, visits: EdVisit[]): Promise<void> {
  const { rows } = await repo.query<{ ed: string; start: string | null }>(
    `SELECT x.target_id AS ed, min(c->'period'->>'start') AS start
     FROM unnest($1::text[]) v(id)
     JOIN sp_reference x ON x.target_id = v.id AND x.resource_type = 'Encounter' AND x.code = 'part-of'
     JOIN resource r ON r.resource_type = 'Encounter' AND r.id = x.id AND NOT r.deleted
     CROSS JOIN LATERAL (SELECT r.content::jsonb AS c) j
     WHERE c->'class'->>'code' = 'IMP'
     GROUP BY x.target_id`,
    [visits.map((v) => v.id)],
  );
  const byId = new Map(visits.map((v) => [v.id, v]));
  for (const row of rows) {
    const v = byId.get(row.ed);
    if (v) {
      v.admitted = true;
      v.admittedAt = row.start ? Date.parse(row.start) : undefined;
    }
  }
}

/** Applies the triage times (the first ESI Observation of each visit). */
export function applyTriageTimes(visits: EdVisit[], acuity: AcuityRecord[]): void {
  const first = new Map<string, number>();
  for (const a of acuity) {
    const t = first.get(a.encounter);
    if (t === undefined || a.at < t) first.set(a.encounter, a.at);
  }
  for (const v of visits) {
    v.triagedAt = first.get(v.id);
  }
}

/**
 * Workflow step Tasks authored in the window (the workflow runner sets `authoredOn` when it
 * applies a plan): the Tasks' JSON through one hash join of the date index range with the
 * resource rows, parsed in Node. (Joining the token/reference/date index rows instead probes
 * several indexes per Task and measured seven times slower.)
 */
export async function loadSteps(repo: PostgresRepository, w: Window): Promise<StepRun[]> {
  const { rows } = await repo.query<{ content: string }>(
    `SELECT r.content FROM sp_date a
     JOIN resource r ON r.resource_type = 'Task' AND r.id = a.id AND NOT r.deleted
     WHERE a.resource_type = 'Task' AND a.code = 'authored-on' AND a.lo >= $1 AND a.lo < $2`,
    [w.from.toISOString(), new Date(w.to.getTime() + 24 * 3600_000).toISOString()],
  );
  const out: StepRun[] = [];
  for (const row of rows) {
    const task = JSON.parse(row.content) as Task;
    const step = task.code?.coding?.find((c) => c.system === STEP_SYSTEM)?.code;
    const encounter = (task.encounter ?? task.focus)?.reference?.replace(/^Encounter\//, '');
    if (!step || !encounter) continue;
    const start = task.executionPeriod?.start ? Date.parse(task.executionPeriod.start) : undefined;
    const end = task.executionPeriod?.end ? Date.parse(task.executionPeriod.end) : undefined;
    out.push({ encounter, step, status: task.status, start, end });
  }
  return out;
}

/** Device alarms (DetectedIssues authored by a Device) identified in the window. */
export async function loadAlarms(repo: PostgresRepository, w: Window): Promise<Alarm[]> {
  const { rows } = await repo.query<{ patient: string; at: Date }>(
    `SELECT 'Patient/' || p.target_id AS patient, d.lo AS at
     FROM sp_date d
     JOIN sp_reference a ON a.id = d.id AND a.resource_type = 'DetectedIssue' AND a.code = 'author' AND a.target_type = 'Device'
     JOIN sp_reference p ON p.id = d.id AND p.resource_type = 'DetectedIssue' AND p.code = 'patient' AND p.target_type = 'Patient'
     WHERE d.resource_type = 'DetectedIssue' AND d.code = 'identified' AND d.lo >= $1 AND d.lo < $2`,
    [w.from.toISOString(), w.to.toISOString()],
  );
  return rows.map((row) => ({ patient: row.patient, at: row.at.getTime() }));
}
