import type { Encounter, Patient } from '@medplum/fhirtypes';
import { fhirToDtm } from '../../hl7-bridge/hl7v2/datetime.ts';
import { cweOf } from './datatypes.ts';
import { D, type EncounterRefs, msh, pid, pv1, type Sender, segment } from './segments.ts';

export type AdtEvent = 'A01' | 'A03' | 'A08';

/** Statuses in which an Encounter is under way: its creation is an admit (A01). */
const ADMITTED: Encounter['status'][] = ['arrived', 'triaged', 'in-progress', 'onleave'];

/**
 * Which ADT event an Encounter version is: created under way → A01 (admit); became finished → A03
 * (discharge); any other change → A08 (update). A planned or cancelled encounter that was never
 * admitted sends nothing.
 */
export function adtEvent(current: Encounter, previous: Encounter | undefined): AdtEvent | undefined {
  if (!previous) {
    if (current.status === 'finished') return 'A03';
    return ADMITTED.includes(current.status) ? 'A01' : undefined;
  }
  if (current.status === 'finished' && previous.status !== 'finished') return 'A03';
  if (!ADMITTED.includes(previous.status) && ADMITTED.includes(current.status)) return 'A01';
  if (current.status === 'planned' || current.status === 'cancelled' || current.status === 'entered-in-error') {
    return ADMITTED.includes(previous.status) || previous.status === 'finished' ? 'A08' : undefined;
  }
  return 'A08';
}

/** Encounter + Patient → ADT^A01 / A03 / A08 (ADT_A01 / ADT_A03 structures). */
export function buildAdt(
  event: AdtEvent,
  encounter: Encounter,
  patient: Patient,
  refs: EncounterRefs,
  sender: Sender,
  controlId: string,
): string {
  const structure = event === 'A03' ? 'ADT_A03' : 'ADT_A01';
  const recorded = encounter.meta?.lastUpdated;
  const reason = encounter.reasonCode?.[0];
  const segments = [
    msh(sender, recorded, `ADT${D.component}${event}${D.component}${structure}`, controlId),
    segment('EVN', { 1: event, 2: fhirToDtm(recorded) }),
    pid(patient),
    pv1(encounter, refs),
    ...(reason ? [segment('PV2', { 3: cweOf(D, reason) })] : []),
  ];
  return `${segments.join('\r')}\r`;
}
