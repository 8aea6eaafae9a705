import type {
  CodeableConcept,
  Coding,
  Encounter,
  EncounterLocation,
  EncounterParticipant,
  Identifier,
  Location,
  Practitioner,
} from '@medplum/fhirtypes';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message, Rep, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';
import { cxToIdentifier } from './datatypes/cx.ts';
import { plToLocation } from './datatypes/pl.ts';
import { xcnToPractitioner } from './datatypes/xcn.ts';
import { withDefaultSystem } from './pid.ts';
import { addUpsert, ConversionError, type ConversionOptions, localRef, type Upsert, type UpsertMode, upsertKey } from './plan.ts';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const MODE_OF_ARRIVAL = 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival';

/** PV1-2 patient class → Encounter.class (IG PatientClass[EncounterClass]). */
export const ENCOUNTER_CLASS: Record<string, Coding> = {
  E: { system: ACT_CODE, code: 'EMER', display: 'emergency' },
  I: { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' },
  O: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
  P: { system: ACT_CODE, code: 'PRENC', display: 'pre-admission' },
};

export function encounterClass(patientClass: string): Coding {
  const code = patientClass.toUpperCase();
  return ENCOUNTER_CLASS[code] ?? { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: code || 'U' };
}

/** The visit number that keys the encounter: PV1-19, else the account number PID-18. */
export function visitIdentifier(message: Message): Identifier | undefined {
  const pv1 = message.segment('PV1');
  const visit = pv1 && withDefaultSystem(cxToIdentifier(pv1.rep(19), 'VN'), message);
  if (visit) return visit;
  const pid = message.segment('PID');
  return pid ? withDefaultSystem(cxToIdentifier(pid.rep(18), 'AN'), message) : undefined;
}

const PARTICIPANTS: [field: number, code: string, display: string][] = [
  [7, 'ATND', 'attender'],
  [8, 'REF', 'referrer'],
  [9, 'CON', 'consultant'],
  [17, 'ADM', 'admitter'],
  [52, 'PART', 'Participation'],
];

/**
 * An XCN → a Practitioner upsert (create-only: the ADT does not own the practitioner registry)
 * and a reference to it; without an id, just a display.
 */
export function practitionerRef(rep: Rep, message: Message, upserts: Upsert[]): EncounterParticipant['individual'] | undefined {
  const p = xcnToPractitioner(rep);
  if (!p) return undefined;
  const identifier = withDefaultSystem(p.identifier, message);
  if (!identifier) return { display: p.display };
  const practitioner: Practitioner = { ...p.practitioner, identifier: [identifier] };
  const key = addUpsert(upserts, {
    key: upsertKey('Practitioner', identifier),
    resourceType: 'Practitioner',
    identifier,
    resource: practitioner,
    mode: 'create-only',
  });
  return localRef(key, p.display);
}

/** A PL → Location upserts (create-only: the bed, and the area it is part of) and a reference to the bed. */
export function locationRef(rep: Rep, upserts: Upsert[]): EncounterLocation['location'] | undefined {
  const l = plToLocation(rep);
  if (!l) return undefined;
  let partOf: Location['partOf'];
  if (l.area) {
    const areaKey = addUpsert(upserts, {
      key: upsertKey('Location', l.area.identifier),
      resourceType: 'Location',
      identifier: l.area.identifier,
      resource: l.area.location,
      mode: 'create-only',
    });
    partOf = localRef(areaKey, l.area.display);
  }
  const key = addUpsert(upserts, {
    key: upsertKey('Location', l.identifier),
    resourceType: 'Location',
    identifier: l.identifier,
    resource: { ...l.location, ...(partOf ? { partOf } : {}) },
    mode: 'create-only',
  });
  return localRef(key, l.display);
}

/** HL7 table 0112 discharge disposition → FHIR discharge-disposition (the ES convention), original code kept. */
const DISPOSITION: Record<string, string> = {
  '01': 'home',
  '02': 'other-hcf',
  '03': 'snf',
  '04': 'long',
  '05': 'other-hcf',
  '06': 'home',
  '07': 'aadvice',
  '20': 'exp',
  '62': 'rehab',
  '65': 'psy',
};

function dispositionOf(rep: Rep): CodeableConcept | undefined {
  const original = cweToCodeableConcept(rep);
  const code = DISPOSITION[rep.c(1)];
  if (!original || !code) return original;
  return {
    ...original,
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code }, ...(original.coding ?? [])],
  };
}

export interface EncounterInput {
  message: Message;
  patientKey: string;
  /** Encounter.status for this event; undefined = leave as is (A08), 'unknown' when created. */
  status?: Encounter['status'];
  mode: UpsertMode;
  options: ConversionOptions;
}

/**
 * PV1/PV2 → Encounter (IG PV1[Encounter]): visit number, class, type, locations (current, prior,
 * temporary, pending), participants, service type, hospitalization, period, admit reason.
 * Practitioners and Locations become their own (create-only) upserts.
 */
export function encounterFromPv1(input: EncounterInput, upserts: Upsert[]): Upsert<Encounter> {
  const { message, options } = input;
  const pv1 = message.segment('PV1') as Segment;
  const identifier = visitIdentifier(message);
  if (!identifier) {
    throw new ConversionError({
      code: '101',
      text: 'PV1-19 (visit number) or PID-18 (account number) is required to track the encounter',
      location: { segment: 'PV1', sequence: 1, field: 19 },
    });
  }
  const patientClass = pv1.value(2);
  const encounter: Encounter = {
    resourceType: 'Encounter',
    identifier: [identifier, ...pv1.reps(50).flatMap((r) => withDefaultSystem(cxToIdentifier(r), message) ?? [])],
    status: input.status ?? 'unknown',
    class: encounterClass(patientClass),
    subject: localRef(input.patientKey),
  };
  if (!input.status) delete (encounter as Partial<Encounter>).status;
  const type = cweToCodeableConcept(pv1.rep(4));
  if (type) encounter.type = [type];
  const serviceType = cweToCodeableConcept(pv1.rep(10));
  if (serviceType) encounter.serviceType = serviceType;
  const locations: EncounterLocation[] = [];
  const at = (field: number, status: EncounterLocation['status']) => {
    const ref = locationRef(pv1.rep(field), upserts);
    if (ref) locations.push({ location: ref, status });
  };
  at(3, patientClass.toUpperCase() === 'P' ? 'planned' : 'active');
  at(11, 'active');
  at(42, 'reserved');
  at(6, 'completed');
  at(43, 'completed');
  if (locations.length) encounter.location = locations;
  const participants: EncounterParticipant[] = [];
  for (const [field, code, display] of PARTICIPANTS) {
    for (const rep of pv1.reps(field)) {
      const individual = practitionerRef(rep, message, upserts);
      if (individual) participants.push({ type: [{ coding: [{ system: PARTICIPATION, code, display }] }], individual });
    }
  }
  if (participants.length) encounter.participant = participants;
  const hospitalization: NonNullable<Encounter['hospitalization']> = {};
  const preAdmit = cxToIdentifier(pv1.rep(5));
  if (preAdmit) hospitalization.preAdmissionIdentifier = preAdmit;
  const reAdmission = cweToCodeableConcept(pv1.rep(13));
  if (reAdmission) hospitalization.reAdmission = reAdmission;
  const admitSource = cweToCodeableConcept(pv1.rep(14));
  if (admitSource) hospitalization.admitSource = admitSource;
  const vip = cweToCodeableConcept(pv1.rep(16));
  if (vip) hospitalization.specialCourtesy = [vip];
  const disposition = dispositionOf(pv1.rep(36));
  if (disposition) hospitalization.dischargeDisposition = disposition;
  const diet = cweToCodeableConcept(pv1.rep(38));
  if (diet) hospitalization.dietPreference = [diet];
  if (Object.keys(hospitalization).length) encounter.hospitalization = hospitalization;
  const start = pv1.value(44) ? dtmToFhirDateTime(pv1.value(44), options.timezone) : undefined;
  const end = pv1.value(45) ? dtmToFhirDateTime(pv1.value(45), options.timezone) : undefined;
  if (start || end) encounter.period = { ...(start ? { start } : {}), ...(end ? { end } : {}) };
  const pv2 = message.segment('PV2');
  const reason = pv2 && cweToCodeableConcept(pv2.rep(3));
  if (reason) encounter.reasonCode = [reason];
  // PV2-38 mode of arrival (HL7 table 0430: ambulance, car, on foot, …), as the ES convention records it.
  const arrival = pv2?.rep(38);
  if (arrival?.c(1)) {
    encounter.extension = [
      {
        url: MODE_OF_ARRIVAL,
        valueCoding: {
          system: 'http://terminology.hl7.org/CodeSystem/v2-0430',
          code: arrival.c(1),
          ...(arrival.c(2) ? { display: arrival.c(2) } : {}),
        },
      },
    ];
  }
  return {
    key: upsertKey('Encounter', identifier),
    resourceType: 'Encounter',
    identifier,
    resource: encounter,
    mode: input.mode,
    ...(input.status ? {} : { defaults: { status: 'unknown' } }),
  };
}
