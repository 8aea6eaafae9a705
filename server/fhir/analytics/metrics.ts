/**
 * ED performance metrics as pure functions of facts read from FHIR (see docs/analytics.md for
 * the definitions and where each timestamp lives). Times are epoch milliseconds; durations are
 * reported in minutes. Nothing here touches the database, so every definition is unit-tested.
 */

/** One ED visit (an `Encounter` of class EMER). */
export interface EdVisit {
  id: string;
  patient?: string;
  /** `period.start`: the door time. */
  arrival: number;
  /** `period.end`: the patient left the ED. */
  departure?: number;
  status: string;
  /** The acuity in force (`Encounter.priority`, ESI 1–5). */
  esi?: number;
  /** The ED area `Location` id of the bed (`location[].location` → `partOf`), and the bed's zone. */
  area?: string;
  zone?: string;
  /** The first ESI Observation's `effectiveDateTime`. */
  triagedAt?: number;
  /** The earliest `participant.period.start` (first provider). */
  providerAt?: number;
  /** Left without being seen: `cancelled` with disposition `oth` and text "LWBS"/"left without being seen". */
  lwbs: boolean;
  /** Admitted: an inpatient `Encounter` (class IMP) has `partOf` = this visit; its `period.start` is the admission decision. */
  admittedAt?: number;
  admitted: boolean;
  /** Local hour (0–23) and ISO weekday (1 = Monday … 7 = Sunday) of arrival. */
  hour: number;
  weekday: number;
  /** Local calendar date of arrival (YYYY-MM-DD). */
  day: string;
}

/** One automated workflow step (`Task` with a `workflow-step` code). */
export interface StepRun {
  encounter: string;
  step: string;
  status: string;
  /** `executionPeriod.start` / `.end`. */
  start?: number;
  end?: number;
}

/** An ESI Observation: automated (`rules`, `rules-llm`) or a clinician override. */
export interface AcuityRecord {
  encounter: string;
  at: number;
  level: number;
  override: boolean;
}

/** A device alarm (a `DetectedIssue` authored by a `Device`). */
export interface Alarm {
  patient: string;
  at: number;
}

export interface Summary {
  n: number;
  median: number | null;
  p90: number | null;
}

export interface MetricFilter {
  /** ED area `Location` id, or a bed zone code (`resus`, `acute`, `fast-track`). */
  area?: string;
  /** ESI levels to keep. */
  acuity?: number[];
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
export const RETURN_WINDOW = 72 * HOUR;

/** Linear-interpolated quantile (the same rule as PostgreSQL's percentile_cont). */
export function quantile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) {
    return null;
  }
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** A summary from a count and the median and 90th percentile in ms (as computed here or by percentile_cont), in minutes (one decimal). */
export function summaryOf(n: number, medianMs: number | null, p90Ms: number | null): Summary {
  const round = (v: number | null) => (v === null ? null : Math.round((v / MINUTE) * 10) / 10);
  return { n, median: round(medianMs), p90: round(p90Ms) };
}

/** Median and 90th percentile of durations in ms, reported in minutes (one decimal). */
export function summarize(durationsMs: readonly number[]): Summary {
  const sorted = durationsMs.filter((d) => Number.isFinite(d) && d >= 0).sort((a, b) => a - b);
  return summaryOf(sorted.length, quantile(sorted, 0.5), quantile(sorted, 0.9));
}

export function filterVisits(visits: readonly EdVisit[], filter: MetricFilter): EdVisit[] {
  return visits.filter(
    (v) =>
      (!filter.area || v.area === filter.area || v.zone === filter.area) &&
      (!filter.acuity?.length || (v.esi !== undefined && filter.acuity.includes(v.esi))),
  );
}

const between = (from: number | undefined, to: number | undefined): number | undefined =>
  from !== undefined && to !== undefined ? to - from : undefined;

function durations<T>(items: readonly T[], pick: (v: T) => number | undefined): number[] {
  const out: number[] = [];
  for (const v of items) {
    const d = pick(v);
    if (d !== undefined) out.push(d);
  }
  return out;
}

/** A fraction to four decimals, or null over nothing. */
export const rate = (num: number, den: number): number | null => (den === 0 ? null : Math.round((num / den) * 10_000) / 10_000);

export interface FlowMetrics {
  arrivals: number;
  doorToTriage: Summary;
  doorToProvider: Summary;
  triageToProvider: Summary;
  lengthOfStay: { discharged: Summary; admitted: Summary };
  boarding: Summary;
  lwbs: { count: number; rate: number | null };
  returns72h: { count: number; rate: number | null };
  acuityMix: Record<'1' | '2' | '3' | '4' | '5' | 'unknown', number>;
  arrivalsByHour: number[];
  arrivalsByWeekday: number[];
  /** Visits per local calendar day of arrival, in date order (days without arrivals left out). */
  arrivalsByDay: { day: string; count: number }[];
}

/**
 * Flow metrics of `visits` (already filtered). `earlier` holds the same patients' ED visits that
 * may precede them (those in the 72 h before the period, and the visits themselves), for returns.
 */
export function flowMetrics(visits: readonly EdVisit[], earlier: readonly EdVisit[]): FlowMetrics {
  const finished = visits.filter((v) => v.departure !== undefined && !v.lwbs);
  const acuityMix: FlowMetrics['acuityMix'] = { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0, unknown: 0 };
  const byHour = new Array<number>(24).fill(0);
  const byWeekday = new Array<number>(7).fill(0);
  const byDay = new Map<string, number>();
  for (const v of visits) {
    byDay.set(v.day, (byDay.get(v.day) ?? 0) + 1);
    const key = v.esi && v.esi >= 1 && v.esi <= 5 ? (String(v.esi) as '1') : 'unknown';
    acuityMix[key]++;
    byHour[v.hour]++;
    byWeekday[v.weekday - 1]++;
  }
  const lwbs = visits.filter((v) => v.lwbs).length;
  const returns = countReturns(visits, earlier);
  return {
    arrivals: visits.length,
    doorToTriage: summarize(durations(visits, (v) => between(v.arrival, v.triagedAt))),
    doorToProvider: summarize(durations(visits, (v) => between(v.arrival, v.providerAt))),
    triageToProvider: summarize(durations(visits, (v) => between(v.triagedAt, v.providerAt))),
    lengthOfStay: {
      discharged: summarize(durations(finished, (v) => (v.admitted ? undefined : between(v.arrival, v.departure)))),
      admitted: summarize(durations(finished, (v) => (v.admitted ? between(v.arrival, v.departure) : undefined))),
    },
    boarding: summarize(durations(finished, (v) => (v.admitted ? between(v.admittedAt, v.departure) : undefined))),
    lwbs: { count: lwbs, rate: rate(lwbs, visits.length) },
    returns72h: { count: returns, rate: rate(returns, visits.length) },
    acuityMix,
    arrivalsByHour: byHour,
    arrivalsByWeekday: byWeekday,
    arrivalsByDay: [...byDay].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([day, count]) => ({ day, count })),
  };
}

/** Visits that began within 72 h after the same patient's previous ED visit ended (or began, if still open). */
export function countReturns(visits: readonly EdVisit[], earlier: readonly EdVisit[]): number {
  const byPatient = new Map<string, EdVisit[]>();
  for (const v of earlier) {
    if (!v.patient) continue;
    const list = byPatient.get(v.patient) ?? [];
    list.push(v);
    byPatient.set(v.patient, list);
  }
  let returns = 0;
  for (const v of visits) {
    const previous = v.patient ? byPatient.get(v.patient) : undefined;
    if (!previous) continue;
    const isReturn = previous.some((p) => {
      if (p.id === v.id || p.arrival >= v.arrival) return false;
      const left = p.departure ?? p.arrival;
      return v.arrival - left <= RETURN_WINDOW;
    });
    if (isReturn) returns++;
  }
  return returns;
}

export interface AlarmMetrics {
  alarms: number;
  patientHours: number;
  perPatientHour: number | null;
}

/**
 * Alarms raised while a patient was in the ED, per patient-hour of ED stay within [from, to).
 * An open visit counts until `to` (or `now`, if earlier).
 */
export function alarmMetrics(visits: readonly EdVisit[], alarms: readonly Alarm[], from: number, to: number): AlarmMetrics {
  const stays = new Map<string, [number, number][]>();
  let ms = 0;
  for (const v of visits) {
    const start = Math.max(v.arrival, from);
    const end = Math.min(v.departure ?? to, to);
    if (end <= start || !v.patient) continue;
    ms += end - start;
    const list = stays.get(v.patient) ?? [];
    list.push([start, end]);
    stays.set(v.patient, list);
  }
  let count = 0;
  for (const a of alarms) {
    if (stays.get(a.patient)?.some(([s, e]) => a.at >= s && a.at < e)) count++;
  }
  const hours = ms / HOUR;
  return {
    alarms: count,
    patientHours: Math.round(hours * 10) / 10,
    perPatientHour: hours > 0 ? Math.round((count / hours) * 1000) / 1000 : null,
  };
}

export interface StepMetrics {
  runs: number;
  latency: Summary;
  failed: number;
  failureRate: number | null;
  skipped: number;
}

export interface AgentMetrics {
  steps: Record<string, StepMetrics>;
  overrides: {
    /** Visits with an automated ESI level. */
    triaged: number;
    /** Visits whose acuity a clinician overrode. */
    overridden: number;
    rate: number | null;
    /** More acute than the automated level (a lower ESI number), less acute, or the same. */
    upTriage: number;
    downTriage: number;
    same: number;
  };
}

const ENDED = new Set(['completed', 'failed', 'cancelled']);

/** Automation latency per step (execution start → end), failure and skip counts, and acuity overrides with their direction. */
export function agentMetrics(visitIds: ReadonlySet<string>, steps: readonly StepRun[], acuity: readonly AcuityRecord[]): AgentMetrics {
  return { steps: stepMetrics(visitIds, steps), overrides: overrideMetrics(visitIds, acuity) };
}

/** Per workflow step of the visits: runs, latency of completed runs, failures over ended runs, skips. */
export function stepMetrics(visitIds: ReadonlySet<string>, steps: readonly StepRun[]): AgentMetrics['steps'] {
  const byStep = new Map<string, StepRun[]>();
  for (const s of steps) {
    if (!visitIds.has(s.encounter)) continue;
    const list = byStep.get(s.step) ?? [];
    list.push(s);
    byStep.set(s.step, list);
  }
  const out: Record<string, StepMetrics> = {};
  for (const [step, runs] of [...byStep].sort(([a], [b]) => a.localeCompare(b))) {
    const ended = runs.filter((r) => ENDED.has(r.status));
    const failed = runs.filter((r) => r.status === 'failed').length;
    out[step] = {
      runs: runs.length,
      latency: summarize(durations(runs, (r) => (r.status === 'completed' ? between(r.start, r.end) : undefined))),
      failed,
      failureRate: rate(failed, ended.length),
      skipped: runs.filter((r) => r.status === 'cancelled').length,
    };
  }
  return out;
}

/** Visits whose first automated ESI level a clinician overrode, and in which direction. */
export function overrideMetrics(visitIds: ReadonlySet<string>, acuity: readonly AcuityRecord[]): AgentMetrics['overrides'] {
  // Per visit: the first automated level, and the first override after it.
  const automated = new Map<string, AcuityRecord>();
  const overrides = new Map<string, AcuityRecord>();
  for (const a of [...acuity].sort((x, y) => x.at - y.at)) {
    if (!visitIds.has(a.encounter)) continue;
    if (!a.override) {
      if (!automated.has(a.encounter)) automated.set(a.encounter, a);
    } else if (!overrides.has(a.encounter)) {
      overrides.set(a.encounter, a);
    }
  }
  let up = 0;
  let down = 0;
  let same = 0;
  let overridden = 0;
  for (const [encounter, auto] of automated) {
    const o = overrides.get(encounter);
    if (!o) continue;
    overridden++;
    if (o.level < auto.level) up++;
    else if (o.level > auto.level) down++;
    else same++;
  }
  return { triaged: automated.size, overridden, rate: rate(overridden, automated.size), upTriage: up, downTriage: down, same };
}
