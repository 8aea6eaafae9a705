import type { MedplumClient } from '@medplum/core';
import type {
  AllergyIntolerance,
  Bundle,
  Communication,
  Composition,
  Condition,
  DetectedIssue,
  DocumentReference,
  Encounter,
  Flag,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Patient,
  Resource,
  RiskAssessment,
  Task,
} from '@medplum/fhirtypes';
import { OBSERVATION_CODE_SYSTEM } from '../codes.ts';

export interface ChartData {
  encounter: Encounter;
  patient?: Patient;
  conditions: Condition[];
  allergies: AllergyIntolerance[];
  medications: (MedicationRequest | MedicationStatement)[];
  vitals: Observation[];
  assessments: Observation[];
  risks: RiskAssessment[];
  tasks: Task[];
  documents: (DocumentReference | Composition)[];
  communications: Communication[];
  flags: Flag[];
  issues: DetectedIssue[];
}

function resources<T extends Resource>(bundle: Bundle | undefined): T[] {
  return (bundle?.entry ?? []).map((e) => e.resource as T).filter(Boolean);
}

/** Everything the chart shows; searches the role may not run come back empty (the server decides). */
export async function loadChart(medplum: MedplumClient, encounterId: string): Promise<ChartData> {
  const opts = { cache: 'no-cache' as const };
  const encounter = await medplum.readResource('Encounter', encounterId, opts);
  const p = encounter.subject?.reference;
  const enc = `Encounter/${encounterId}`;
  const since = new Date(Date.parse(encounter.period?.start ?? new Date().toISOString()) - 6 * 3_600_000).toISOString();
  const search = (type: string, query: string) =>
    medplum.search(type as 'Patient', query, opts).catch(() => undefined) as Promise<Bundle | undefined>;
  const none = Promise.resolve(undefined);
  const [
    patient,
    conditions,
    allergies,
    medRequests,
    medStatements,
    vitals,
    assessments,
    risks,
    tasks,
    docs,
    compositions,
    comms,
    flags,
    issues,
  ] = await Promise.all([
    p?.startsWith('Patient/') ? medplum.readReference({ reference: p }, opts).catch(() => undefined) : none,
    p ? search('Condition', `patient=${p}&_count=200`) : none,
    p ? search('AllergyIntolerance', `patient=${p}&_count=200`) : none,
    p ? search('MedicationRequest', `patient=${p}&_count=200`) : none,
    p ? search('MedicationStatement', `patient=${p}&_count=200`) : none,
    p ? search('Observation', `subject=${p}&category=vital-signs&date=ge${since}&_sort=date&_count=1000`) : none,
    search(
      'Observation',
      `encounter=${enc}&code=${OBSERVATION_CODE_SYSTEM}|esi,${OBSERVATION_CODE_SYSTEM}|news2,${OBSERVATION_CODE_SYSTEM}|qsofa&_count=200`,
    ),
    search('RiskAssessment', `encounter=${enc}&_count=50`),
    search('Task', `encounter=${enc}&_count=200`),
    search('DocumentReference', `encounter=${enc}&_count=100`),
    search('Composition', `encounter=${enc}&_count=50`),
    search('Communication', `encounter=${enc}&_count=200&_sort=-_lastUpdated`),
    p ? search('Flag', `subject=${p}&_count=100`) : none,
    p ? search('DetectedIssue', `patient=${p}&_count=100`) : none,
  ]);
  return {
    encounter,
    patient: patient as Patient | undefined,
    conditions: resources(conditions),
    allergies: resources(allergies),
    medications: [...resources<MedicationRequest>(medRequests), ...resources<MedicationStatement>(medStatements)],
    vitals: resources(vitals),
    assessments: resources(assessments),
    risks: resources(risks),
    tasks: resources(tasks),
    documents: [...resources<DocumentReference>(docs), ...resources<Composition>(compositions)],
    communications: resources(comms),
    flags: resources(flags),
    issues: resources(issues),
  };
}

export interface TimelineItem {
  time: string;
  kind: string;
  text: string;
  ref: string;
}

/** The encounter's events, newest first. */
export function timeline(data: ChartData): TimelineItem[] {
  const items: TimelineItem[] = [];
  const push = (time: string | undefined, kind: string, text: string, r: Resource) => {
    if (time) items.push({ time, kind, text, ref: `${r.resourceType}/${r.id}` });
  };
  push(data.encounter.period?.start, 'Arrival', data.encounter.reasonCode?.[0]?.text ?? 'Arrived', data.encounter);
  for (const o of data.assessments) {
    const kind = o.code?.coding?.[0]?.code ?? 'assessment';
    const value = o.valueCodeableConcept?.coding?.[0]?.code ?? o.valueInteger;
    push(
      o.effectiveDateTime,
      kind.toUpperCase(),
      `${kind.toUpperCase()} ${value}${o.method?.coding?.[0]?.code ? ` (${o.method.coding[0].code})` : ''}`,
      o,
    );
  }
  for (const t of data.tasks) {
    const step = t.code?.coding?.[0]?.code ?? t.code?.text ?? 'task';
    push(t.executionPeriod?.end ?? t.executionPeriod?.start ?? t.authoredOn, 'Step', `${step}: ${t.status}`, t);
  }
  for (const c of data.communications) {
    push(c.sent ?? c.meta?.lastUpdated, 'Message', c.payload?.[0]?.contentString ?? 'Message', c);
  }
  for (const f of data.flags) push(f.period?.start ?? f.meta?.lastUpdated, 'Alert', f.code?.text ?? 'Flag', f);
  for (const d of data.issues) push(d.identifiedDateTime ?? d.meta?.lastUpdated, 'Issue', d.code?.text ?? d.detail ?? 'Issue', d);
  for (const l of data.encounter.location ?? []) {
    if (l.period?.start)
      items.push({ time: l.period.start, kind: 'Bed', text: `Bed ${l.location.display ?? l.location.reference}`, ref: 'bed' });
  }
  return items.sort((a, b) => b.time.localeCompare(a.time));
}
