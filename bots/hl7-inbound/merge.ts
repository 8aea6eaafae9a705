import type { Identifier, Patient, PatientLink, Resource } from '@medplum/fhirtypes';
import type { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { cxListToIdentifiers } from './datatypes/cx.ts';
import { patientIdentifiers, withDefaultSystem } from './pid.ts';
import { ConversionError, type MergeStep } from './plan.ts';

/**
 * A40 "merge patient — patient identifier list": PID names the surviving patient, MRG-1 the
 * identifiers of the patient merged into it. The IG has no map for it; ours follows FHIR's patient
 * merge: the merged patient becomes inactive with link `replaced-by` → survivor, the survivor gets
 * `replaces` → merged and the merged identifiers (use `old`), and every resource that referred to
 * the merged patient is moved to the survivor.
 */
export function planMerge(message: Message): MergeStep {
  const pid = message.segment('PID');
  const mrg = message.segment('MRG');
  if (!pid || !mrg) throw new ConversionError({ code: '100', text: 'A40 needs PID and MRG segments', location: { segment: 'MRG' } });
  const old = cxListToIdentifiers(mrg.reps(1)).map((i) => withDefaultSystem(i, message) as Identifier);
  if (old.length === 0)
    throw new ConversionError({
      code: '101',
      text: 'MRG-1 (prior patient identifier list) is required',
      location: { segment: 'MRG', sequence: 1, field: 1 },
    });
  const survivor = patientIdentifiers(pid, message);
  const same = old.some((o) => survivor.some((s) => s.system === o.system && s.value === o.value));
  if (same)
    throw new ConversionError({
      code: '205',
      text: 'MRG-1 names the surviving patient itself',
      location: { segment: 'MRG', sequence: 1, field: 1 },
    });
  return { survivor, old };
}

function hasLink(patient: Patient, other: string, type: PatientLink['type']): boolean {
  return !!patient.link?.some((l) => l.other.reference === other && l.type === type);
}

/** The merged patient and the survivor after the merge (unchanged when already merged). */
export function mergedPatients(survivor: Patient & { id: string }, old: Patient & { id: string }): { survivor: Patient; old: Patient } {
  const survivorRef = `Patient/${survivor.id}`;
  const oldRef = `Patient/${old.id}`;
  const known = new Set((survivor.identifier ?? []).map((i) => `${i.system}|${i.value}`));
  const moved = (old.identifier ?? []).filter((i) => !known.has(`${i.system}|${i.value}`)).map((i) => ({ ...i, use: 'old' as const }));
  return {
    survivor: {
      ...survivor,
      identifier: [...(survivor.identifier ?? []), ...moved],
      link: hasLink(survivor, oldRef, 'replaces')
        ? survivor.link
        : [...(survivor.link ?? []), { other: { reference: oldRef }, type: 'replaces' }],
    },
    old: {
      ...old,
      active: false,
      link: hasLink(old, survivorRef, 'replaced-by')
        ? old.link
        : [...(old.link ?? []), { other: { reference: survivorRef }, type: 'replaced-by' }],
    },
  };
}

/** Where resources refer to a patient, as search parameters: what must move on a merge. */
export const PATIENT_REFERENCES: [resourceType: Resource['resourceType'], searchParam: string][] = [
  ['Encounter', 'subject'],
  ['Observation', 'subject'],
  ['DiagnosticReport', 'subject'],
  ['Appointment', 'actor'],
  ['AllergyIntolerance', 'patient'],
  ['Condition', 'subject'],
  ['ChargeItem', 'subject'],
  ['Account', 'subject'],
  ['Coverage', 'beneficiary'],
];

/** The resource with every reference to `from` pointing to `to` instead. */
export function moveReferences<T extends Resource>(resource: T, from: string, to: string): T {
  return JSON.parse(JSON.stringify(resource).replaceAll(JSON.stringify(from), JSON.stringify(to))) as T;
}
