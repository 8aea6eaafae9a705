import type { SortRule, WithId } from '@medplum/core';
import type { Encounter, Patient, ServiceRequest } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../fhir/repo.ts';
import { type FamilyPhase, familyPhase, PHASE_LABELS, providerStart } from './phase.ts';
import { expectedWait, type ProviderPickup, type QueueEntry, type WaitEstimate } from './wait.ts';

const ESI_SYSTEM = 'https://emergisphere.dev/fhir/CodeSystem/esi';
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' };
/** How far back the door-to-provider times and the pace are read. */
const HISTORY_MS = 12 * 3600_000;
const MAX_QUEUE = 1000;

/** What the family status operation answers: no clinical detail, nothing restricted. */
export interface FamilyStatus {
  patientName?: string;
  /** The current (or last) ED visit; undefined when the patient has none the family may know of. */
  encounter?: string;
  phase?: FamilyPhase;
  label: string;
  /** While waiting to be seen. */
  wait?: WaitEstimate;
  asOf: string;
}

const restricted = (r: { meta?: { security?: { system?: string; code?: string }[] } }) =>
  r.meta?.security?.some((s) => s.system === RESTRICTED.system && s.code === RESTRICTED.code) ?? false;

export function acuityOf(encounter: Encounter): number | undefined {
  const code = encounter.priority?.coding?.find((c) => c.system === ESI_SYSTEM)?.code;
  const n = Number(code);
  return Number.isInteger(n) && n >= 1 && n <= 5 ? n : undefined;
}

const time = (s: string | undefined) => (s ? Date.parse(s) : Number.NaN);
const byArrivalDesc: SortRule[] = [{ code: 'date', descending: true }];

/**
 * The family's view of a patient's visit, computed as the server (the family may read neither
 * other patients, whose places in the queue make the wait, nor the orders that make "waiting for
 * results"). A restricted (legally flagged, v3-Confidentiality R) encounter is treated as absent,
 * exactly as the family-member AccessPolicy hides it.
 */
export async function loadFamilyStatus(system: PostgresRepository, patientRef: string, now = new Date()): Promise<FamilyStatus> {
  const patient = await system.readResource<Patient>('Patient', patientRef.split('/')[1]);
  const name = patient.name?.[0];
  const patientName = name ? [name.given?.join(' '), name.family].filter(Boolean).join(' ') : undefined;
  const visits = await system.searchResources<Encounter>({
    resourceType: 'Encounter',
    filters: [
      { code: 'subject', operator: 'eq', value: patientRef },
      { code: 'class', operator: 'eq', value: 'EMER' },
    ],
    sortRules: byArrivalDesc,
    count: 20,
  });
  const encounter = visits.find((e) => !restricted(e));
  if (!encounter) {
    return { patientName, label: 'No emergency visit on record', asOf: now.toISOString() };
  }
  const ref = `Encounter/${encounter.id}`;
  const [admissions, orders] = await Promise.all([
    system.searchResources<Encounter>({
      resourceType: 'Encounter',
      filters: [{ code: 'part-of', operator: 'eq', value: ref }],
      count: 10,
    }),
    system.searchResources<ServiceRequest>({
      resourceType: 'ServiceRequest',
      filters: [{ code: 'encounter', operator: 'eq', value: ref }],
      count: 200,
    }),
  ]);
  const admission = admissions.find((a) => a.class?.code === 'IMP' && !restricted(a) && a.status !== 'cancelled');
  const phase = familyPhase({ encounter, admission, orders });
  const status: FamilyStatus = { patientName, encounter: ref, phase, label: PHASE_LABELS[phase], asOf: now.toISOString() };
  if (phase === 'arrived') {
    status.wait = await waitFor(system, encounter, now);
  }
  return status;
}

async function waitFor(system: PostgresRepository, me: WithId<Encounter>, now: Date): Promise<WaitEstimate> {
  const since = new Date(now.getTime() - HISTORY_MS).toISOString();
  const [waitingVisits, recentVisits] = await Promise.all([
    system.searchResources<Encounter>({
      resourceType: 'Encounter',
      filters: [
        { code: 'class', operator: 'eq', value: 'EMER' },
        { code: 'status', operator: 'eq', value: 'arrived,triaged' },
      ],
      count: MAX_QUEUE,
    }),
    system.searchResources<Encounter>({
      resourceType: 'Encounter',
      filters: [
        { code: 'class', operator: 'eq', value: 'EMER' },
        { code: 'date', operator: 'ge', value: since },
      ],
      sortRules: byArrivalDesc,
      count: MAX_QUEUE,
    }),
  ]);
  const entry = (e: Encounter): QueueEntry => ({ arrived: time(e.period?.start), acuity: acuityOf(e) });
  const waiting = waitingVisits.filter((e) => e.id !== me.id && !providerStart(e) && !Number.isNaN(time(e.period?.start))).map(entry);
  const recent: ProviderPickup[] = recentVisits
    .map((e) => ({ ...entry(e), seen: time(providerStart(e)) }))
    .filter((p) => !Number.isNaN(p.seen) && !Number.isNaN(p.arrived));
  const arrived = time(me.period?.start);
  return expectedWait({ arrived: Number.isNaN(arrived) ? now.getTime() : arrived, acuity: acuityOf(me) }, waiting, recent, now.getTime());
}
