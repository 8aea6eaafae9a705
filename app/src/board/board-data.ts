/**
 * The tracking board's rows, computed from FHIR resources by pure functions (no client here), so
 * the ordering, timers and alert rules are unit-tested without a browser.
 */
import type {
  Bundle,
  DetectedIssue,
  Encounter,
  Flag,
  Location,
  Observation,
  Patient,
  Practitioner,
  Reference,
  RelatedPerson,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { ESI_SYSTEM, OBSERVATION_CODE_SYSTEM, STEP_ORDER, STEP_SYSTEM } from '../codes.ts';

export interface StepMark {
  code: string;
  status: Task['status'];
  /** Failure or skip reason, or the retry note. */
  note?: string;
}

export interface Alert {
  id: string;
  kind: 'Flag' | 'DetectedIssue';
  text: string;
  severity: 'high' | 'moderate' | 'low';
  restricted: boolean;
}

export interface BoardRow {
  encounterId: string;
  patientId?: string;
  status: Encounter['status'];
  bed?: string;
  area?: string;
  name: string;
  temporaryIdentity: boolean;
  age?: string;
  sex?: string;
  complaint?: string;
  esi?: number;
  esiMethod?: string;
  news2?: number;
  news2Band?: string;
  arrival?: string;
  triagedAt?: string;
  providerAt?: string;
  staff: string[];
  steps: StepMark[];
  alerts: Alert[];
}

/** Everything the board is computed from; each list may be empty when the user's role may not read it. */
export interface BoardInput {
  encounters: Encounter[];
  patients: Patient[];
  locations: Location[];
  practitioners: Practitioner[];
  observations: Observation[];
  tasks: Task[];
  flags: Flag[];
  issues: DetectedIssue[];
}

export function emptyInput(): BoardInput {
  return { encounters: [], patients: [], locations: [], practitioners: [], observations: [], tasks: [], flags: [], issues: [] };
}

/** Splits search bundles (with their _include'd resources) into the board's input lists. */
export function collect(bundles: (Bundle | undefined)[], into: BoardInput = emptyInput()): BoardInput {
  const seen = new Set<string>();
  for (const bundle of bundles) {
    for (const entry of bundle?.entry ?? []) {
      const r = entry.resource as Resource | undefined;
      if (!r?.id) continue;
      const key = `${r.resourceType}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      switch (r.resourceType) {
        case 'Encounter':
          into.encounters.push(r);
          break;
        case 'Patient':
          into.patients.push(r);
          break;
        case 'Location':
          into.locations.push(r);
          break;
        case 'Practitioner':
          into.practitioners.push(r);
          break;
        case 'Observation':
          into.observations.push(r);
          break;
        case 'Task':
          into.tasks.push(r);
          break;
        case 'Flag':
          into.flags.push(r);
          break;
        case 'DetectedIssue':
          into.issues.push(r);
          break;
        default:
          break;
      }
    }
  }
  return into;
}

export function refId(ref: Reference | undefined, type: string): string | undefined {
  const s = ref?.reference;
  return s?.startsWith(`${type}/`) ? s.slice(type.length + 1) : undefined;
}

export function humanName(patient: Patient | Practitioner | RelatedPerson | undefined): string | undefined {
  const n = patient?.name?.[0];
  if (!n) return undefined;
  if (n.text) return n.text;
  return [n.given?.join(' '), n.family].filter(Boolean).join(' ') || undefined;
}

/** Age as clinicians write it: years, or months under 2, or days under 1 month. */
export function ageOf(birthDate: string | undefined, now: Date): string | undefined {
  if (!birthDate) return undefined;
  const b = new Date(`${birthDate.length === 4 ? `${birthDate}-01-01` : birthDate.length === 7 ? `${birthDate}-01` : birthDate}T00:00:00Z`);
  if (Number.isNaN(b.getTime())) return undefined;
  let months = (now.getUTCFullYear() - b.getUTCFullYear()) * 12 + (now.getUTCMonth() - b.getUTCMonth());
  if (now.getUTCDate() < b.getUTCDate()) months--;
  if (months >= 24) return `${Math.floor(months / 12)}y`;
  if (months >= 1) return `${months}m`;
  return `${Math.max(0, Math.floor((now.getTime() - b.getTime()) / 86_400_000))}d`;
}

export function sexOf(gender: Patient['gender']): string | undefined {
  return gender ? ({ male: 'M', female: 'F', other: 'X', unknown: '?' } as const)[gender] : undefined;
}

export function esiOfEncounter(encounter: Encounter): number | undefined {
  const code = encounter.priority?.coding?.find((c) => c.system === ESI_SYSTEM)?.code;
  const n = Number(code);
  return Number.isInteger(n) && n >= 1 && n <= 5 ? n : undefined;
}

export function observationKind(obs: Observation): string | undefined {
  return obs.code?.coding?.find((c) => c.system === OBSERVATION_CODE_SYSTEM)?.code;
}

export function esiOfObservation(obs: Observation): number | undefined {
  const n = Number(obs.valueCodeableConcept?.coding?.find((c) => c.system === ESI_SYSTEM)?.code);
  return Number.isInteger(n) && n >= 1 && n <= 5 ? n : undefined;
}

function effective(obs: Observation): string {
  return obs.effectiveDateTime ?? obs.issued ?? obs.meta?.lastUpdated ?? '';
}

function stepOf(task: Task): string | undefined {
  return task.code?.coding?.find((c) => c.system === STEP_SYSTEM)?.code;
}

function alertSeverity(r: Flag | DetectedIssue): Alert['severity'] {
  if (r.resourceType === 'DetectedIssue') return r.severity ?? 'moderate';
  const text = JSON.stringify(r.code ?? {}).toLowerCase();
  return /critical|high|severe/.test(text) ? 'high' : 'moderate';
}

function isRestricted(r: Resource): boolean {
  return !!r.meta?.security?.some((s) => s.code === 'R' || s.code === 'V');
}

const ACTIVE_ISSUE_STATUSES = new Set(['registered', 'preliminary', 'final', 'amended', 'corrected']);

/** Builds the rows, one per active encounter, in board order. */
export function buildRows(input: BoardInput, now: Date): BoardRow[] {
  const byId = <T extends Resource>(list: T[]) => new Map(list.map((r) => [r.id as string, r]));
  const patients = byId(input.patients);
  const locations = byId(input.locations);
  const practitioners = byId(input.practitioners);
  const obsByEncounter = groupBy(input.observations, (o) => refId(o.encounter, 'Encounter'));
  const tasksByEncounter = groupBy(input.tasks, (t) => refId(t.encounter, 'Encounter') ?? refId(t.focus, 'Encounter'));
  const rows = input.encounters.map((encounter): BoardRow => {
    const id = encounter.id as string;
    const patientId = refId(encounter.subject, 'Patient');
    const patient = patientId ? patients.get(patientId) : undefined;
    const bedRef = encounter.location?.find((l) => l.status !== 'completed')?.location;
    const bed = bedRef ? locations.get(refId(bedRef, 'Location') ?? '') : undefined;
    const area = bed?.partOf ? locations.get(refId(bed.partOf, 'Location') ?? '') : undefined;
    const obs = (obsByEncounter.get(id) ?? []).slice().sort((a, b) => effective(a).localeCompare(effective(b)));
    const esiObs = obs.filter((o) => observationKind(o) === 'esi');
    const news2 = obs.filter((o) => observationKind(o) === 'news2').at(-1);
    const latestEsi = esiObs.at(-1);
    const providers = (encounter.participant ?? [])
      .filter((p) => p.individual?.reference?.startsWith('Practitioner/'))
      .sort((a, b) => (a.period?.start ?? '').localeCompare(b.period?.start ?? ''));
    const steps = (tasksByEncounter.get(id) ?? [])
      .map((t) => ({ task: t, code: stepOf(t) }))
      .filter((s): s is { task: Task; code: string } => !!s.code && s.code !== 'start-workflow')
      .sort((a, b) => stepRank(a.code) - stepRank(b.code))
      .map(({ task, code }) => ({
        code,
        status: task.status,
        note: task.statusReason?.text ?? task.businessStatus?.text,
      }));
    const alerts: Alert[] = [
      ...input.flags
        .filter((f) => f.status === 'active')
        .filter((f) => {
          const enc = refId(f.encounter, 'Encounter');
          return enc ? enc === id : !!patientId && refId(f.subject, 'Patient') === patientId;
        })
        .map((f) => ({
          id: `Flag/${f.id}`,
          kind: 'Flag' as const,
          text: f.code?.text ?? f.code?.coding?.[0]?.display ?? 'Alert',
          severity: alertSeverity(f),
          restricted: isRestricted(f),
        })),
      ...input.issues
        .filter((d) => ACTIVE_ISSUE_STATUSES.has(d.status) && !!patientId && refId(d.patient, 'Patient') === patientId)
        .map((d) => ({
          id: `DetectedIssue/${d.id}`,
          kind: 'DetectedIssue' as const,
          text: d.code?.text ?? d.code?.coding?.[0]?.display ?? d.detail ?? 'Detected issue',
          severity: alertSeverity(d),
          restricted: isRestricted(d),
        })),
    ];
    return {
      encounterId: id,
      patientId,
      status: encounter.status,
      bed: bed?.name ?? bedRef?.display,
      area: area?.name ?? (bed?.partOf?.display || undefined),
      name: humanName(patient) ?? encounter.subject?.display ?? 'Unknown patient',
      temporaryIdentity: !!patient?.meta?.tag?.some((t) => t.code === 'temporary-identity'),
      age: ageOf(patient?.birthDate, now),
      sex: sexOf(patient?.gender),
      complaint: encounter.reasonCode?.[0]?.text ?? encounter.reasonCode?.[0]?.coding?.[0]?.display,
      esi: esiOfEncounter(encounter) ?? (latestEsi ? esiOfObservation(latestEsi) : undefined),
      esiMethod: latestEsi?.method?.coding?.[0]?.code,
      news2: news2?.valueInteger,
      news2Band: news2?.interpretation?.[0]?.text,
      arrival: encounter.period?.start,
      triagedAt: esiObs[0] ? effective(esiObs[0]) : undefined,
      providerAt: providers[0]?.period?.start,
      staff: providers.map((p) => practitionerName(p.individual, practitioners)),
      steps,
      alerts: alerts.sort((a, b) => severityRank(a.severity) - severityRank(b.severity)),
    };
  });
  return sortRows(rows);
}

function practitionerName(ref: Reference | undefined, practitioners: Map<string, Practitioner>): string {
  const p = practitioners.get(refId(ref, 'Practitioner') ?? '');
  return humanName(p) ?? ref?.display ?? 'Staff';
}

function stepRank(code: string): number {
  const i = STEP_ORDER.indexOf(code);
  return i < 0 ? STEP_ORDER.length : i;
}

function severityRank(s: Alert['severity']): number {
  return s === 'high' ? 0 : s === 'moderate' ? 1 : 2;
}

function groupBy<T>(list: T[], key: (t: T) => string | undefined): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of list) {
    const k = key(item);
    if (!k) continue;
    const group = map.get(k);
    if (group) group.push(item);
    else map.set(k, [item]);
  }
  return map;
}

/** Most acute first (ESI 1 … 5, untriaged patients with ESI 1–2 weight: right after level 2), then longest wait. */
export function sortRows(rows: BoardRow[]): BoardRow[] {
  // An untriaged patient has not been assessed yet: shown above ESI 3 so nobody waits unseen.
  const rank = (r: BoardRow) => r.esi ?? 2.5;
  return rows.slice().sort((a, b) => rank(a) - rank(b) || (a.arrival ?? '').localeCompare(b.arrival ?? ''));
}

/** "1h 05m" from milliseconds. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const totalMinutes = Math.floor(ms / 60_000);
  const h = Math.floor(totalMinutes / 60);
  const m = totalMinutes % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m`;
}

export function elapsed(from: string | undefined, to: string | Date | undefined): number | undefined {
  if (!from || !to) return undefined;
  const start = Date.parse(from);
  const end = typeof to === 'string' ? Date.parse(to) : to.getTime();
  return Number.isNaN(start) || Number.isNaN(end) ? undefined : end - start;
}

export interface BoardFilter {
  area?: string;
  status?: string;
}

export function filterRows(rows: BoardRow[], filter: BoardFilter): BoardRow[] {
  return rows.filter((r) => (!filter.area || (r.area ?? 'Unassigned') === filter.area) && (!filter.status || r.status === filter.status));
}

/**
 * The Encounter a notification concerns: the Encounter itself, or the `encounter`/`focus` of an
 * Observation, Task, Flag or DetectedIssue. Undefined when it cannot be told (then reload all).
 */
export function encounterOfNotification(bundle: Bundle): string | undefined {
  const resource = bundle.entry?.[1]?.resource as Resource | undefined;
  if (!resource) return undefined;
  if (resource.resourceType === 'Encounter') return resource.id;
  const r = resource as { encounter?: Reference; focus?: Reference };
  return refId(r.encounter, 'Encounter') ?? refId(r.focus, 'Encounter');
}
