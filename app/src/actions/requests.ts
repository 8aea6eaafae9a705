/** The FHIR writes of the app's actions, as pure functions (unit-tested). */
import type {
  Bundle,
  Communication,
  Encounter,
  Location,
  Observation,
  OperationOutcome,
  Parameters,
  Reference,
  Slot,
} from '@medplum/fhirtypes';
import { COMMUNICATION_CATEGORY_SYSTEM, LOINC } from '../codes.ts';

export interface VitalsForm {
  heartRate?: number;
  respRate?: number;
  spo2?: number;
  systolic?: number;
  diastolic?: number;
  temperature?: number;
  pain?: number;
}

const VITAL_CATEGORY = [
  { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] },
];

function quantity(code: string, display: string, value: number, unit: string, ucum: string) {
  return {
    code: { coding: [{ system: LOINC, code, display }], text: display },
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: ucum },
  };
}

/** Manually taken vital signs: one Observation each (blood pressure as an 85354-9 panel), in one transaction. */
export function vitalsBundle(form: VitalsForm, encounter: Encounter, now: Date): Bundle {
  const base = (): Omit<Observation, 'code'> => ({
    resourceType: 'Observation',
    status: 'final',
    category: VITAL_CATEGORY,
    subject: encounter.subject,
    encounter: { reference: `Encounter/${encounter.id}` },
    effectiveDateTime: now.toISOString(),
  });
  const list: Observation[] = [];
  const single = (v: number | undefined, code: string, display: string, unit: string, ucum: string) => {
    if (v !== undefined && Number.isFinite(v)) list.push({ ...base(), ...quantity(code, display, v, unit, ucum) } as Observation);
  };
  single(form.heartRate, '8867-4', 'Heart rate', '/min', '/min');
  single(form.respRate, '9279-1', 'Respiratory rate', '/min', '/min');
  single(form.spo2, '59408-5', 'Oxygen saturation', '%', '%');
  single(form.temperature, '8310-5', 'Body temperature', 'Cel', 'Cel');
  if (form.pain !== undefined && Number.isFinite(form.pain)) {
    list.push({ ...base(), code: { coding: [{ system: LOINC, code: '72514-3', display: 'Pain severity' }] }, valueInteger: form.pain });
  }
  if (form.systolic !== undefined && form.diastolic !== undefined) {
    list.push({
      ...base(),
      code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel' }], text: 'Blood pressure' },
      component: [
        quantity('8480-6', 'Systolic blood pressure', form.systolic, 'mm[Hg]', 'mm[Hg]'),
        quantity('8462-4', 'Diastolic blood pressure', form.diastolic, 'mm[Hg]', 'mm[Hg]'),
      ],
    });
  }
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: list.map((resource) => ({ request: { method: 'POST', url: 'Observation' }, resource })),
  };
}

export type OverrideAction = 'set-acuity' | 'skip' | 'rerun' | 'cancel';

/** Parameters of `POST Encounter/$workflow-override` (docs/workflows.md). */
export function overrideParameters(
  encounterId: string,
  action: OverrideAction,
  reason: string,
  opts: { step?: string; acuity?: number },
): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'encounter', valueReference: { reference: `Encounter/${encounterId}` } },
      { name: 'action', valueCode: action },
      ...(opts.step ? [{ name: 'step', valueCode: opts.step }] : []),
      ...(opts.acuity ? [{ name: 'acuity', valueInteger: opts.acuity }] : []),
      { name: 'reason', valueString: reason },
    ],
  };
}

/** The bed assignment: the new bed active, earlier beds completed (their history kept). */
export function withBed(encounter: Encounter, bed: Reference<Location>, now: Date): Encounter {
  const earlier = (encounter.location ?? []).map((l) =>
    l.status === 'completed' ? l : { ...l, status: 'completed' as const, period: { ...l.period, end: now.toISOString() } },
  );
  return { ...encounter, location: [...earlier, { location: bed, status: 'active', period: { start: now.toISOString() } }] };
}

/** An acknowledgement of a page: a Communication `inResponseTo` it, from the signed-in user. */
export function acknowledgement(page: Communication, sender: NonNullable<Communication['sender']>, now: Date): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    inResponseTo: [{ reference: `Communication/${page.id}` }],
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'staff-notice' }] }],
    sender,
    ...(page.sender ? { recipient: [page.sender] } : {}),
    subject: page.subject,
    encounter: page.encounter,
    sent: now.toISOString(),
    payload: [{ contentString: 'Acknowledged' }],
  };
}

/** Specialties the clinics' schedules offer (SNOMED CT), for `Slot/$find`. */
export const FOLLOW_UP_SPECIALTIES = [
  { value: '394814009', label: 'General practice' },
  { value: '394579002', label: 'Cardiology' },
  { value: '394591006', label: 'Neurology' },
  { value: '394609007', label: 'General surgery' },
  { value: '394801008', label: 'Trauma and orthopedics' },
];

export const FOLLOW_UP_URGENCIES = [
  { value: 'stat', label: 'Within 24 h' },
  { value: 'asap', label: 'Within 72 h' },
  { value: 'urgent', label: 'Within 7 days' },
  { value: 'routine', label: 'Within 30 days' },
];

/** The query for the scheduling agent's `Slot/$find`. */
export function findSlotsQuery(specialty: string, urgency: string, count = 5): string {
  return new URLSearchParams({ specialty, urgency, count: String(count) }).toString();
}

/** `Appointment/$book` parameters: one slot for the encounter's patient, with why. */
export function bookParameters(encounter: Encounter, slot: Slot, reason: string): Parameters {
  const patient = encounter.subject?.reference;
  if (!patient?.startsWith('Patient/')) throw new Error('The encounter has no patient to book for');
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'slot', valueReference: { reference: `Slot/${slot.id}` } },
      { name: 'patient', valueReference: { reference: patient } },
      ...(reason ? [{ name: 'reason', valueString: reason }] : []),
    ],
  };
}

/**
 * A 409 from `$book`: the slot was taken meanwhile. The outcome's informational issues name the
 * next free slots; they are offered instead.
 */
export function bookingConflict(outcome: OperationOutcome | undefined): { message: string; nextSlotIds: string[] } {
  const issues = outcome?.issue ?? [];
  const main = issues.find((i) => i.severity === 'error' || i.severity === 'fatal');
  const nextSlotIds = issues
    .filter((i) => i.code === 'informational')
    .flatMap((i) => i.expression ?? [])
    .filter((e) => e.startsWith('Slot/'))
    .map((e) => e.slice('Slot/'.length));
  return { message: main?.details?.text ?? main?.diagnostics ?? 'The slot is no longer free', nextSlotIds };
}
