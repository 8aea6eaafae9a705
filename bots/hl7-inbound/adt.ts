import type { AllergyIntolerance, Encounter, Identifier } from '@medplum/fhirtypes';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';
import { planMerge } from './merge.ts';
import { patientFromPid } from './pid.ts';
import { type ConversionOptions, localRef, type MessagePlan, messageInstant, sourceOf, type Upsert, upsertKey } from './plan.ts';
import { encounterFromPv1 } from './pv1.ts';

/**
 * Encounter.status by ADT event (IG Event[EncounterStatus]). One deliberate difference: an A04
 * (registration) of an emergency patient (PV1-2 = E) is `arrived`, not `planned` — the patient
 * stands at the ED desk, and the emergency workflow starts from that arrival.
 */
export function encounterStatus(event: string, patientClass: string, pv1: Segment): Encounter['status'] | undefined {
  if (pv1.value(45) && event !== 'A13' && event !== 'A11') return 'finished';
  switch (event) {
    case 'A01':
    case 'A02':
    case 'A13':
      return 'in-progress';
    case 'A03':
      return 'finished';
    case 'A04':
      return patientClass.toUpperCase() === 'E' ? 'arrived' : 'planned';
    case 'A11':
      return 'cancelled';
    default:
      // A08 does not say where the encounter stands: keep what we have.
      return undefined;
  }
}

/** AL1-2 allergen type (HL7 table 0127) → AllergyIntolerance.category. */
const ALLERGY_CATEGORY: Record<string, NonNullable<AllergyIntolerance['category']>[number]> = {
  DA: 'medication',
  MA: 'medication',
  FA: 'food',
  EA: 'environment',
  AA: 'environment',
  PA: 'environment',
  LA: 'environment',
  PLA: 'environment',
};
/** AL1-4 severity (HL7 table 0128) → criticality. */
const CRITICALITY: Record<string, AllergyIntolerance['criticality']> = { SV: 'high', MO: 'low', MI: 'low', U: 'unable-to-assess' };

/** AL1 → AllergyIntolerance, keyed by patient and allergen code (the same allergy sent again is the same resource). */
function allergies(message: Message, patientKey: string, patientId: Identifier, options: ConversionOptions): Upsert<AllergyIntolerance>[] {
  return message.all('AL1').flatMap((al1) => {
    const code = cweToCodeableConcept(al1.rep(3));
    const allergen = al1.value(3) || al1.value(3, 2);
    if (!code || !allergen) return [];
    const identifier = {
      system: 'https://emergisphere.dev/fhir/sid/hl7v2-allergy',
      value: [patientId.system, patientId.value, al1.value(3, 3), allergen].join('^'),
    };
    const category = ALLERGY_CATEGORY[al1.value(2).toUpperCase()];
    const criticality = CRITICALITY[al1.value(4).toUpperCase()];
    const reactions = al1
      .reps(5)
      .map((r) => r.text())
      .filter(Boolean);
    const onset = al1.value(6) ? dtmToFhirDateTime(al1.value(6), options.timezone) : undefined;
    const resource: AllergyIntolerance = {
      resourceType: 'AllergyIntolerance',
      identifier: [identifier],
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      verificationStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }],
      },
      code,
      patient: localRef(patientKey),
      ...(category ? { category: [category] } : {}),
      ...(criticality ? { criticality } : {}),
      ...(reactions.length ? { reaction: [{ manifestation: reactions.map((text) => ({ text })) }] } : {}),
      ...(onset ? { onsetDateTime: onset } : {}),
    };
    return [{ key: upsertKey('AllergyIntolerance', identifier), resourceType: 'AllergyIntolerance', identifier, resource, mode: 'merge' }];
  });
}

/**
 * ADT A01/A02/A03/A04/A08/A11/A13 → Patient + Encounter (+ Locations, Practitioners, allergies);
 * A40 → the surviving Patient and a merge step. The ADT feed owns demographics and the visit, so
 * both are merged into what exists.
 */
export function planAdt(message: Message, options: ConversionOptions = {}): MessagePlan {
  const event = message.type.event;
  const upserts: Upsert[] = [];
  const patient = patientFromPid(message, 'merge', options);
  upserts.push(patient);
  const plan: MessagePlan = { message, source: sourceOf(message), messageTime: messageInstant(message, options.timezone), upserts };
  if (event === 'A40') {
    plan.merge = planMerge(message);
    return plan;
  }
  const pv1 = message.segment('PV1') as Segment;
  const status = encounterStatus(event, pv1.value(2), pv1);
  const encounter = encounterFromPv1({ message, patientKey: patient.key, status, mode: 'merge', options }, upserts);
  if (event === 'A03' && !encounter.resource.period?.end) {
    // The discharge time: PV1-45, else when the event happened (EVN-2), else the message time.
    const end = dtmToFhirDateTime(message.segment('EVN')?.value(2) || message.header.value(7), options.timezone);
    if (end) encounter.resource.period = { ...encounter.resource.period, end };
  }
  if (event === 'A13') {
    encounter.clear = ['period.end', 'hospitalization.dischargeDisposition'];
  }
  upserts.push(encounter, ...allergies(message, patient.key, patient.identifier, options));
  return plan;
}
