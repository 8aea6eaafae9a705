import type { Extension, Identifier, Patient, PatientContact } from '@medplum/fhirtypes';
import { dtmToFhirDate, dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message, Rep, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';
import { cxToIdentifier, IDENTIFIER_TYPE_SYSTEM } from './datatypes/cx.ts';
import { systemFromHd } from './datatypes/hd.ts';
import { xadToAddress } from './datatypes/xad.ts';
import { xpnToHumanName } from './datatypes/xpn.ts';
import { xtnToContactPoint } from './datatypes/xtn.ts';
import { ConversionError, type ConversionOptions, type Upsert, type UpsertMode, upsertKey } from './plan.ts';

/** HL7 table 0001 administrative sex → FHIR gender (IG AdministrativeSex map). */
const GENDER: Record<string, Patient['gender']> = {
  M: 'male',
  F: 'female',
  O: 'other',
  A: 'other',
  X: 'other',
  U: 'unknown',
  N: 'unknown',
};

/** HL7 table 0002 marital status → v3-MaritalStatus (IG MaritalStatus map). */
const MARITAL: Record<string, string> = {
  A: 'L',
  E: 'L',
  D: 'D',
  M: 'M',
  S: 'S',
  W: 'W',
  C: 'T',
  G: 'T',
  P: 'T',
  R: 'T',
  N: 'A',
  I: 'I',
  B: 'U',
  U: 'UNK',
};

/**
 * Identifiers without an assigning authority are taken as assigned by the sending facility
 * (MSH-4): a bare "12345" from two hospitals must not be the same patient.
 */
export function withDefaultSystem(identifier: Identifier | undefined, message: Message): Identifier | undefined {
  if (!identifier || identifier.system) return identifier;
  const facility = message.header.value(4) || message.header.value(3);
  return { ...identifier, system: systemFromHd(facility) };
}

function yesNo(value: string): boolean | undefined {
  const v = value.toUpperCase();
  return v === 'Y' ? true : v === 'N' ? false : undefined;
}

function nonEmpty<T>(values: (T | undefined)[]): T[] {
  return values.filter((v): v is T => v !== undefined);
}

/** The identifiers of PID-2, PID-3, PID-4 (CX), PID-19 (SSN) and PID-20 (driver's license). */
export function patientIdentifiers(pid: Segment, message: Message): Identifier[] {
  const ids = nonEmpty([
    ...pid.reps(3).map((r) => withDefaultSystem(cxToIdentifier(r), message)),
    withDefaultSystem(cxToIdentifier(pid.rep(2)), message),
    ...pid.reps(4).map((r) => withDefaultSystem(cxToIdentifier(r), message)),
  ]);
  const ssn = pid.value(19);
  if (ssn)
    ids.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn, type: { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: 'SS' }] } });
  const dl = pid.rep(20);
  if (dl.c(1)) {
    ids.push({
      value: dl.c(1),
      ...(dl.c(2) ? { system: systemFromHd(`DL-${dl.c(2)}`) } : {}),
      type: { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: 'DL' }] },
    });
  }
  return ids;
}

/** The identifier that keys the patient: the first PID-3. */
export function patientKeyIdentifier(message: Message): Identifier {
  const pid = message.segment('PID');
  const id = pid && withDefaultSystem(cxToIdentifier(pid.rep(3)), message);
  if (!id)
    throw new ConversionError({
      code: '101',
      text: 'PID-3 (patient identifier) is required',
      location: { segment: 'PID', sequence: 1, field: 3 },
    });
  return id;
}

function contact(nk1: Segment): PatientContact | undefined {
  const name = xpnToHumanName(nk1.rep(2));
  const relationship = cweToCodeableConcept(nk1.rep(3)) ?? cweToCodeableConcept(nk1.rep(7));
  const address = xadToAddress(nk1.rep(4));
  const telecom = nonEmpty([
    ...nk1.reps(5).map((r) => xtnToContactPoint(r, 'home')),
    ...nk1.reps(6).map((r) => xtnToContactPoint(r, 'work')),
  ]);
  if (!name && !telecom.length && !address) return undefined;
  return {
    ...(relationship ? { relationship: [relationship] } : {}),
    ...(name ? { name } : {}),
    ...(telecom.length ? { telecom } : {}),
    ...(address ? { address } : {}),
  };
}

/** PID-n is the explicit null "": the receiver deletes what it has. */
function isNull(pid: Segment, field: number): boolean {
  return pid.reps(field).length === 1 && pid.rep(field).isNull;
}

/**
 * PID (and NK1) → Patient, as the IG's PID[Patient] map. Only fields the message values are set;
 * fields sent as "" are listed in `clear`, so merging into an existing Patient keeps what the
 * message does not talk about and deletes what it nulls.
 */
export function patientFromPid(message: Message, mode: UpsertMode, options: ConversionOptions = {}): Upsert<Patient> {
  const pid = message.segment('PID') as Segment;
  const keyId = patientKeyIdentifier(message);
  const patient: Patient = { resourceType: 'Patient', identifier: patientIdentifiers(pid, message) };
  const clear: string[] = [];
  const names = nonEmpty([...pid.reps(5).map(xpnToHumanName), ...pid.reps(9).map((r: Rep) => xpnToHumanName(r))]);
  if (names.length) patient.name = names;
  const birth = pid.value(7);
  if (birth) {
    const date = dtmToFhirDate(birth);
    if (date) patient.birthDate = date;
    const time = birth.length > 8 ? dtmToFhirDateTime(birth, options.timezone) : undefined;
    // The birth time is an extension on the birthDate primitive (FHIR JSON "_birthDate").
    if (time)
      Object.assign(patient, {
        _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: time }] },
      });
    else clear.push('_birthDate');
  } else if (isNull(pid, 7)) clear.push('birthDate', '_birthDate');
  const gender = GENDER[pid.value(8).toUpperCase()];
  if (gender) patient.gender = gender;
  else if (isNull(pid, 8)) clear.push('gender');
  const addresses = nonEmpty(pid.reps(11).map(xadToAddress));
  if (addresses.length) patient.address = addresses;
  else if (isNull(pid, 11)) clear.push('address');
  const telecom = nonEmpty([
    ...pid.reps(13).map((r) => xtnToContactPoint(r, 'home')),
    ...pid.reps(14).map((r) => xtnToContactPoint(r, 'work')),
    ...pid.reps(40).map((r) => xtnToContactPoint(r)),
  ]);
  if (telecom.length) patient.telecom = telecom;
  else if (isNull(pid, 13)) clear.push('telecom');
  const language = cweToCodeableConcept(pid.rep(15));
  if (language) patient.communication = [{ language, preferred: true }];
  const marital = pid.value(16).toUpperCase();
  if (marital) {
    const original = cweToCodeableConcept(pid.rep(16));
    patient.maritalStatus = MARITAL[marital]
      ? {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: MARITAL[marital] },
            ...(original?.coding ?? []),
          ],
        }
      : original;
  } else if (isNull(pid, 16)) clear.push('maritalStatus');
  const extension: Extension[] = [];
  const maiden = pid.value(6);
  if (maiden) extension.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: maiden });
  if (extension.length) patient.extension = extension;
  const birthOrder = pid.value(25);
  const multiple = yesNo(pid.value(24));
  if (birthOrder && /^\d+$/.test(birthOrder)) patient.multipleBirthInteger = Number(birthOrder);
  else if (multiple !== undefined) patient.multipleBirthBoolean = multiple;
  const deathTime = pid.value(29) ? dtmToFhirDateTime(pid.value(29), options.timezone) : undefined;
  const deceased = yesNo(pid.value(30));
  if (deathTime) patient.deceasedDateTime = deathTime;
  else if (deceased !== undefined) patient.deceasedBoolean = deceased;
  const contacts = nonEmpty(message.all('NK1').map(contact));
  if (contacts.length) patient.contact = contacts;
  return { key: upsertKey('Patient', keyId), resourceType: 'Patient', identifier: keyId, resource: patient, clear, mode };
}
