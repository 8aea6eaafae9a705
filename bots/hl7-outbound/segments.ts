import type { CodeableConcept, Encounter, Location, Patient, Practitioner } from '@medplum/fhirtypes';
import { fhirToDtm } from '../../hl7-bridge/hl7v2/datetime.ts';
import { DEFAULT_DELIMITERS } from '../../hl7-bridge/hl7v2/delimiters.ts';
import { escapeValue } from '../../hl7-bridge/hl7v2/escape.ts';
import { components, cweOf, cxOf, xadOf, xcnOf, xpnOf, xtnOf } from './datatypes.ts';

/** Shared segment builders of the outbound messages (standard delimiters). */
export const D = DEFAULT_DELIMITERS;
export const esc = (v: string | undefined) => escapeValue(v ?? '', D);

/** Who we are in MSH-3/MSH-4 (MSH-5/6 are filled per destination by the bridge). */
export interface Sender {
  application: string;
  facility: string;
}

/** One segment from sparse raw fields. */
export function segment(name: string, fields: Record<number, string>): string {
  const max = Math.max(
    0,
    ...Object.entries(fields)
      .filter(([, v]) => v !== '')
      .map(([k]) => Number(k)),
  );
  const out = [name];
  for (let i = 1; i <= max; i++) out.push(fields[i] ?? '');
  return out.join(D.field);
}

export function msh(sender: Sender, time: string | undefined, type: string, controlId: string): string {
  return `MSH${D.field}${D.component}${D.repetition}${D.escape}${D.subcomponent}${D.field}${[esc(sender.application), esc(sender.facility), '', '', fhirToDtm(time), '', type, esc(controlId), 'P', '2.5.1'].join(D.field)}`;
}

const SEX: Record<string, string> = { male: 'M', female: 'F', other: 'O', unknown: 'U' };

/** Patient → PID (IG PID[Patient] in reverse). */
export function pid(patient: Patient): string {
  const rep = (values: string[]) => values.filter(Boolean).join(D.repetition);
  return segment('PID', {
    1: '1',
    3: rep((patient.identifier ?? []).map((i) => cxOf(D, i))),
    5: rep((patient.name ?? []).map((n) => xpnOf(D, n))),
    7: fhirToDtm(patient.birthDate),
    8: SEX[patient.gender ?? ''] ?? '',
    11: rep((patient.address ?? []).map((a) => xadOf(D, a))),
    13: rep((patient.telecom ?? []).filter((t) => t.use !== 'work').map((t) => xtnOf(D, t))),
    14: rep((patient.telecom ?? []).filter((t) => t.use === 'work').map((t) => xtnOf(D, t))),
    29: fhirToDtm(patient.deceasedDateTime),
    30: patient.deceasedBoolean === undefined ? '' : patient.deceasedBoolean ? 'Y' : 'N',
  });
}

const PATIENT_CLASS: Record<string, string> = { EMER: 'E', IMP: 'I', ACUTE: 'I', NONAC: 'I', AMB: 'O', OBSENC: 'O', SS: 'O', PRENC: 'P' };
const LOCATION_SYSTEM = 'https://emergisphere.dev/fhir/sid/hl7v2-location';

/** Location → PL: from the bridge's own location identifier (facility^point of care^room^bed), else its name. */
export function plOf(location: Location | undefined, display?: string): string {
  const id = location?.identifier?.find((i) => i.system === LOCATION_SYSTEM)?.value;
  if (id) {
    const [facility, poc, room, bed] = id.split('^');
    return components(D, [esc(poc), esc(room), esc(bed), esc(facility)]);
  }
  return esc(location?.name ?? display);
}

export interface EncounterRefs {
  location?: Location;
  attending?: Practitioner;
}

/** The visit number: the identifier typed VN, else the first. */
export function visitNumber(encounter: Encounter): string {
  const vn = encounter.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'VN')) ?? encounter.identifier?.[0];
  return vn ? cxOf(D, vn) : components(D, [esc(encounter.id), '', '', 'EMERGISPHERE', 'VN']);
}

/** FHIR discharge-disposition → HL7 table 0112 (what legacy receivers expect in PV1-36). */
const DISPOSITION: Record<string, string> = {
  home: '01',
  'other-hcf': '02',
  snf: '03',
  long: '04',
  aadvice: '07',
  exp: '20',
  rehab: '62',
  psy: '65',
};

function dispositionOf(cc: CodeableConcept | undefined): string {
  if (!cc) return '';
  const v2 = cc.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0112');
  if (v2) return cweOf(D, { coding: [v2] });
  const fhir = cc.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/discharge-disposition');
  const code = fhir?.code ? DISPOSITION[fhir.code] : undefined;
  return code
    ? cweOf(D, { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0112', code, display: fhir?.display }], text: cc.text })
    : cweOf(D, cc);
}

/** Encounter → PV1 (IG PV1[Encounter] in reverse). */
export function pv1(encounter: Encounter, refs: EncounterRefs): string {
  const active = encounter.location?.find((l) => l.status === 'active') ?? encounter.location?.[0];
  const attending = encounter.participant?.find((p) => p.type?.some((t) => t.coding?.some((c) => c.code === 'ATND')));
  return segment('PV1', {
    1: '1',
    2: PATIENT_CLASS[encounter.class?.code ?? ''] ?? 'U',
    3: active ? plOf(refs.location, active.location.display) : '',
    7: attending ? xcnOf(D, refs.attending, attending.individual?.display) : '',
    19: visitNumber(encounter),
    36: dispositionOf(encounter.hospitalization?.dischargeDisposition),
    44: fhirToDtm(encounter.period?.start),
    45: fhirToDtm(encounter.period?.end),
  });
}
