/**
 * Synthetic patients with histories and the ED's devices, generated reproducibly from a seed
 * number: the same (seed, index) always yields the same patient, conditions, allergies,
 * medications, prior visits, immunizations and observations. Pure — no I/O; scripts/seed.ts writes
 * them as transaction bundles of conditional creates.
 *
 * Every resource has an identifier in {@link SYNTHETIC_SYSTEM} derived from the seed and the
 * patient index, so a second run finds everything already there (the seed skips patients whose
 * identifier exists; their histories were written in the same transaction). Dates are relative to a fixed
 * anchor (not "now"): the output does not depend on the day it is generated.
 */
import type {
  AllergyIntolerance,
  Bundle,
  BundleEntry,
  CodeableConcept,
  Condition,
  Device,
  Encounter,
  Immunization,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Organization,
  Patient,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import { rng, seedOf } from './bench/lib/data.ts';

export const SEED_SYSTEM = 'https://emergisphere.dev/fhir/seed';
/** Identifier system of every synthetic resource (values `<seed>-<index>-<part>`). */
export const SYNTHETIC_SYSTEM = 'https://emergisphere.dev/fhir/synthetic';
/** The hospital's medical record numbers (type MR, which the admission agent treats as an MRN). */
export const MRN_SYSTEM = 'https://emergisphere.dev/fhir/mrn';
/** Histories are dated back from this day, so output does not change with the calendar. */
export const ANCHOR = Date.parse('2026-01-01T00:00:00Z');
const DAY = 86_400_000;

const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const CVX = 'http://hl7.org/fhir/sid/cvx';
const UCUM = 'http://unitsofmeasure.org';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

const GIVEN_F = [
  'Maria',
  'Emma',
  'Olivia',
  'Sophia',
  'Ava',
  'Isabella',
  'Mia',
  'Amelia',
  'Harper',
  'Evelyn',
  'Abigail',
  'Emily',
  'Elizabeth',
  'Sofia',
  'Avery',
  'Ella',
  'Scarlett',
  'Grace',
  'Chloe',
  'Camila',
  'Priya',
  'Aisha',
  'Mei',
  'Fatima',
  'Linda',
  'Patricia',
  'Barbara',
  'Susan',
  'Jennifer',
  'Dorothy',
];
const GIVEN_M = [
  'James',
  'Robert',
  'John',
  'Michael',
  'David',
  'William',
  'Richard',
  'Joseph',
  'Thomas',
  'Charles',
  'Daniel',
  'Matthew',
  'Anthony',
  'Mark',
  'Steven',
  'Paul',
  'Andrew',
  'Joshua',
  'Kevin',
  'Brian',
  'Luis',
  'Carlos',
  'Wei',
  'Omar',
  'Arjun',
  'Hiroshi',
  'Kwame',
  'George',
  'Edward',
  'Frank',
];
const FAMILY = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Nguyen',
  'Hill',
  'Flores',
  'Green',
  'Adams',
  'Nelson',
  'Baker',
  'Hall',
  'Rivera',
  'Campbell',
  'Mitchell',
  'Carter',
  'Roberts',
  'Patel',
  'Kim',
  'Chen',
  'Okafor',
  'Singh',
  'Kowalski',
  "O'Brien",
];
const STREETS = [
  'Oak St',
  'Maple Ave',
  'Pine St',
  'Cedar Ln',
  'Elm St',
  'Washington Blvd',
  'Lake Shore Dr',
  'Park Ave',
  'Hillcrest Rd',
  'Sunset Blvd',
  'Mission St',
  'Valencia St',
  'Broadway',
  'Market St',
  'Fulton St',
  'Geary Blvd',
];
const CITIES: [string, string, string][] = [
  ['San Francisco', 'CA', '941'],
  ['Oakland', 'CA', '946'],
  ['Daly City', 'CA', '940'],
  ['San Mateo', 'CA', '944'],
  ['Berkeley', 'CA', '947'],
];

interface Coded {
  code: string;
  display: string;
}
const CONDITIONS: (Coded & { minAge: number; p: number; meds?: string[] })[] = [
  { code: '38341003', display: 'Hypertensive disorder', minAge: 30, p: 0.3, meds: ['314076', '197361'] },
  { code: '44054006', display: 'Type 2 diabetes mellitus', minAge: 30, p: 0.15, meds: ['860975'] },
  { code: '195967001', display: 'Asthma', minAge: 2, p: 0.1, meds: ['745679'] },
  { code: '13645005', display: 'Chronic obstructive pulmonary disease', minAge: 45, p: 0.07, meds: ['745679'] },
  { code: '49436004', display: 'Atrial fibrillation', minAge: 50, p: 0.08, meds: ['1364441'] },
  { code: '53741008', display: 'Coronary arteriosclerosis', minAge: 45, p: 0.08, meds: ['617312'] },
  { code: '84114007', display: 'Heart failure', minAge: 55, p: 0.05 },
  { code: '709044004', display: 'Chronic kidney disease', minAge: 50, p: 0.05 },
  { code: '40930008', display: 'Hypothyroidism', minAge: 20, p: 0.06, meds: ['966224'] },
  { code: '35489007', display: 'Depressive disorder', minAge: 14, p: 0.1, meds: ['312940'] },
  { code: '55822004', display: 'Hyperlipidemia', minAge: 35, p: 0.2, meds: ['617312'] },
  { code: '84757009', display: 'Epilepsy', minAge: 1, p: 0.02 },
];
const MEDICATIONS: Record<string, string> = {
  '314076': 'lisinopril 10 MG Oral Tablet',
  '197361': 'amlodipine 5 MG Oral Tablet',
  '860975': 'metformin hydrochloride 500 MG Extended Release Oral Tablet',
  '745679': 'albuterol 0.09 MG/ACTUAT Metered Dose Inhaler',
  '1364441': 'apixaban 5 MG Oral Tablet',
  '617312': 'atorvastatin 10 MG Oral Tablet',
  '966224': 'levothyroxine sodium 0.05 MG Oral Tablet',
  '312940': 'sertraline 50 MG Oral Tablet',
};
const ALLERGIES: (Coded & { category: AllergyIntolerance['category']; criticality: 'low' | 'high'; reaction: Coded })[] = [
  {
    code: '764146007',
    display: 'Penicillin',
    category: ['medication'],
    criticality: 'high',
    reaction: { code: '39579001', display: 'Anaphylaxis' },
  },
  {
    code: '387406002',
    display: 'Sulfonamide',
    category: ['medication'],
    criticality: 'low',
    reaction: { code: '271807003', display: 'Eruption of skin' },
  },
  {
    code: '387494007',
    display: 'Codeine',
    category: ['medication'],
    criticality: 'low',
    reaction: { code: '422587007', display: 'Nausea' },
  },
  { code: '256349002', display: 'Peanut', category: ['food'], criticality: 'high', reaction: { code: '39579001', display: 'Anaphylaxis' } },
  {
    code: '111088007',
    display: 'Latex',
    category: ['environment'],
    criticality: 'high',
    reaction: { code: '247472004', display: 'Hives' },
  },
  {
    code: '387207008',
    display: 'Ibuprofen',
    category: ['medication'],
    criticality: 'low',
    reaction: { code: '267036007', display: 'Dyspnea' },
  },
];
const VACCINES: (Coded & { everyYears: number })[] = [
  { code: '141', display: 'Influenza, seasonal, injectable', everyYears: 1 },
  { code: '208', display: 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose', everyYears: 3 },
  { code: '115', display: 'Tdap', everyYears: 10 },
];
const PRIOR_VISITS: (Coded & { cls: 'AMB' | 'IMP' })[] = [
  { code: '185349003', display: 'Encounter for check up', cls: 'AMB' },
  { code: '185347001', display: 'Encounter for problem', cls: 'AMB' },
  { code: '390906007', display: 'Follow-up encounter', cls: 'AMB' },
  { code: '32485007', display: 'Hospital admission', cls: 'IMP' },
];

export interface SyntheticOptions {
  /** The seed number: the same seed yields the same patients. */
  seed: number;
  count: number;
}

const cc = (system: string, c: Coded, text = c.display): CodeableConcept => ({
  coding: [{ system, code: c.code, display: c.display }],
  text,
});
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const instant = (ms: number): string => new Date(ms).toISOString();

/** One patient's resources, Patient first; references to the patient are `urn:uuid:` fullUrls. */
export function syntheticPatient(seed: number, index: number): BundleEntry[] {
  const r = rng(seedOf(seed, index));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)];
  const int = (min: number, max: number): number => min + Math.floor(r() * (max - min + 1));
  const key = `${seed}-${index}`;
  const identifier = (part: string) => [{ system: SYNTHETIC_SYSTEM, value: `${key}-${part}` }];
  const fullUrl = (part: string) => `urn:uuid:${uuidOf(seed, index, part)}`;
  const entries: BundleEntry[] = [];
  const add = (part: string, resource: Resource): void => {
    entries.push({
      fullUrl: fullUrl(part),
      resource,
      request: { method: 'POST', url: resource.resourceType },
    });
  };

  const female = r() < 0.52;
  // Ages skew adult, as an ED's do; a tenth are children.
  const age = r() < 0.1 ? int(0, 17) : r() < 0.75 ? int(18, 64) : int(65, 98);
  const birth = ANCHOR - age * 365.25 * DAY - int(0, 364) * DAY;
  const [city, state, zip3] = pick(CITIES);
  const mrn = String(10_000_000 + ((seed * 100_003 + index * 7_919) % 89_999_999));
  const patient: Patient = {
    resourceType: 'Patient',
    identifier: [
      ...identifier('patient'),
      {
        use: 'usual',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
        system: MRN_SYSTEM,
        value: mrn,
      },
    ],
    active: true,
    name: [{ use: 'official', family: pick(FAMILY), given: [female ? pick(GIVEN_F) : pick(GIVEN_M)] }],
    gender: female ? 'female' : 'male',
    birthDate: day(birth),
    telecom: [{ system: 'phone', use: 'mobile', value: `+1415555${String(int(0, 9999)).padStart(4, '0')}` }],
    address: [
      {
        use: 'home',
        line: [`${int(1, 4999)} ${pick(STREETS)}`],
        city,
        state,
        postalCode: `${zip3}${String(int(0, 99)).padStart(2, '0')}`,
        country: 'US',
      },
    ],
  };
  add('patient', patient);
  const subject: Reference<Patient> = { reference: fullUrl('patient') };

  const meds = new Set<string>();
  let n = 0;
  for (const c of CONDITIONS) {
    if (age < c.minAge || r() >= c.p * (age > 60 ? 1.8 : 1)) continue;
    const onset = birth + (c.minAge + r() * (age - c.minAge)) * 365.25 * DAY;
    const condition: Condition = {
      resourceType: 'Condition',
      identifier: identifier(`condition-${n}`),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
      code: cc(SNOMED, c),
      subject,
      onsetDateTime: day(Math.min(onset, ANCHOR - DAY)),
    };
    add(`condition-${n++}`, condition);
    for (const m of c.meds ?? []) meds.add(m);
  }
  if (female && age >= 18 && age <= 42 && r() < 0.04) {
    const part = `condition-${n++}`;
    add(part, {
      resourceType: 'Condition',
      identifier: identifier(part),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: cc(SNOMED, { code: '77386006', display: 'Pregnancy' }),
      subject,
      onsetDateTime: day(ANCHOR - int(20, 200) * DAY),
    } satisfies Condition);
  }

  let a = 0;
  for (const allergy of ALLERGIES) {
    if (r() >= 0.06) continue;
    add(`allergy-${a}`, {
      resourceType: 'AllergyIntolerance',
      identifier: identifier(`allergy-${a++}`),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      verificationStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }],
      },
      type: 'allergy',
      category: allergy.category,
      criticality: allergy.criticality,
      code: cc(SNOMED, allergy),
      patient: subject,
      reaction: [{ manifestation: [cc(SNOMED, allergy.reaction)], severity: allergy.criticality === 'high' ? 'severe' : 'mild' }],
    } satisfies AllergyIntolerance);
  }

  let m = 0;
  for (const code of meds) {
    const medication = cc(RXNORM, { code, display: MEDICATIONS[code] });
    const since = day(ANCHOR - int(30, 2000) * DAY);
    add(`medstatement-${m}`, {
      resourceType: 'MedicationStatement',
      identifier: identifier(`medstatement-${m}`),
      status: 'active',
      medicationCodeableConcept: medication,
      subject,
      effectivePeriod: { start: since },
      dosage: [{ text: code === '745679' ? '2 puffs as needed' : '1 tablet daily' }],
    } satisfies MedicationStatement);
    add(`medrequest-${m}`, {
      resourceType: 'MedicationRequest',
      identifier: identifier(`medrequest-${m++}`),
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: medication,
      subject,
      authoredOn: since,
      dosageInstruction: [{ text: code === '745679' ? '2 puffs as needed' : '1 tablet daily' }],
    } satisfies MedicationRequest);
  }

  const visits = int(0, age > 60 ? 4 : 2);
  for (let v = 0; v < visits; v++) {
    const kind = pick(PRIOR_VISITS);
    const start = ANCHOR - int(14, 5 * 365) * DAY + int(8, 17) * 3_600_000;
    const hours = kind.cls === 'IMP' ? int(48, 144) : 1;
    add(`encounter-${v}`, {
      resourceType: 'Encounter',
      identifier: identifier(`encounter-${v}`),
      status: 'finished',
      class: { system: ACT_CODE, code: kind.cls, display: kind.cls === 'IMP' ? 'inpatient encounter' : 'ambulatory' },
      type: [cc(SNOMED, kind)],
      subject,
      period: { start: instant(start), end: instant(start + hours * 3_600_000) },
    } satisfies Encounter);
    // A weight at each visit; adults' heights once.
    const kg = age < 18 ? Math.round((3.5 + age * 3.2) * 10) / 10 : int(female ? 48 : 58, female ? 105 : 125);
    add(`weight-${v}`, {
      resourceType: 'Observation',
      identifier: identifier(`weight-${v}`),
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: cc(LOINC, { code: '29463-7', display: 'Body weight' }),
      subject,
      encounter: { reference: fullUrl(`encounter-${v}`) },
      effectiveDateTime: instant(start + 600_000),
      valueQuantity: { value: kg, unit: 'kg', system: UCUM, code: 'kg' },
    } satisfies Observation);
  }

  let i = 0;
  for (const vaccine of VACCINES) {
    if (r() >= 0.5) continue;
    const when = ANCHOR - int(10, vaccine.everyYears * 365) * DAY;
    if (when < birth) continue;
    add(`immunization-${i}`, {
      resourceType: 'Immunization',
      identifier: identifier(`immunization-${i++}`),
      status: 'completed',
      vaccineCode: cc(CVX, vaccine),
      patient: subject,
      occurrenceDateTime: day(when),
      primarySource: true,
    } satisfies Immunization);
  }
  return entries;
}

/** A deterministic UUID for (seed, index, part), for the transaction's fullUrls. */
function uuidOf(seed: number, index: number, part: string): string {
  let h = seedOf(seed, index);
  for (const ch of part) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const r = rng(h);
  const hex = (len: number) =>
    Array.from({ length: len }, () =>
      Math.floor(r() * 16)
        .toString(16)
        .toLowerCase(),
    ).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

/** The identifier value of synthetic patient `index`. */
export const patientKey = (seed: number, index: number): string => `${seed}-${index}-patient`;

/**
 * The patients (those `include` accepts) as transaction bundles of up to `perBundle` patients each.
 * Plain creates: a patient and its history are written in one transaction, so a patient that
 * exists has its whole history, and the caller skips it (conditional creates would do the same
 * check per resource, but a transaction of them is limited to a handful of entries).
 */
export function syntheticBundles(options: SyntheticOptions, include: (index: number) => boolean = () => true, perBundle = 25): Bundle[] {
  const bundles: Bundle[] = [];
  let entry: BundleEntry[] = [];
  let patients = 0;
  for (let i = 0; i < options.count; i++) {
    if (!include(i)) continue;
    entry.push(...syntheticPatient(options.seed, i));
    if (++patients === perBundle) {
      bundles.push({ resourceType: 'Bundle', type: 'transaction', entry });
      entry = [];
      patients = 0;
    }
  }
  if (entry.length > 0) bundles.push({ resourceType: 'Bundle', type: 'transaction', entry });
  return bundles;
}

const DEVICE_TYPES: (Coded & { model: string; count: number })[] = [
  { code: '448703006', display: 'Pulse oximeter', model: 'OxiClip W2', count: 4 },
  { code: '706172005', display: 'Physiologic monitoring system', model: 'VitalView 7', count: 3 },
  { code: '462894001', display: 'Wearable vital signs patch', model: 'BioPatch 3', count: 2 },
];

/**
 * The ED's devices, owned by the hospital. The first `linked` are on synthetic patients 0, 1, …
 * (linking a device starts the device_scan workflow, as on a real ward).
 */
export function seedDevices(seed: number, hospital: Reference<Organization>, linked = 3): BundleEntry[] {
  const entries: BundleEntry[] = [];
  let n = 0;
  for (const type of DEVICE_TYPES) {
    for (let k = 0; k < type.count; k++, n++) {
      const value = `device-${type.model.toLowerCase().replace(/\W+/g, '-')}-${k + 1}`;
      const device: Device = {
        resourceType: 'Device',
        identifier: [{ system: SEED_SYSTEM, value }],
        status: 'active',
        serialNumber: `${type.model.replace(/\W+/g, '').toUpperCase()}-${String(1001 + k)}`,
        manufacturer: 'EmergiSphere Demo Devices',
        modelNumber: type.model,
        deviceName: [{ name: `${type.display} ${k + 1}`, type: 'user-friendly-name' }],
        type: cc(SNOMED, type),
        owner: hospital,
        ...(n < linked ? { patient: { reference: `Patient?identifier=${SYNTHETIC_SYSTEM}|${patientKey(seed, n)}` } } : {}),
      };
      entries.push({ resource: device, request: { method: 'POST', url: 'Device', ifNoneExist: `identifier=${SEED_SYSTEM}|${value}` } });
    }
  }
  return entries;
}
