// Deterministic, realistic-looking test data: the same index always yields the same resource.
import type { Bundle, BundleEntry, Observation, Patient } from '@medplum/fhirtypes';

export const MRN_SYSTEM = 'http://emergisphere.example.org/fhir/sid/mrn';
export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
const CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';
const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed for item `i` of stream `stream`, spread so neighbouring indexes do not correlate. */
export function seedOf(stream: number, i: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)];

/** A v4-shaped UUID from the generator (deterministic for a given seed). */
export function uuidFrom(r: () => number): string {
  const hex = (n: number) =>
    Math.floor(r() * 16 ** n)
      .toString(16)
      .padStart(n, '0');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + Math.floor(r() * 4)).toString(16)}${hex(3)}-${hex(6)}${hex(6)}`;
}

export const FAMILY_NAMES: readonly string[] = (
  'Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson ' +
  'Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young ' +
  'Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts ' +
  'Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez ' +
  'Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James ' +
  'Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Müller Schmidt ' +
  'Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Novak Horvath Kowalski Nowak Rossi Russo Ferrari Esposito ' +
  'Bianchi Romano Dubois Lefèvre Moreau Laurent Fontaine Chevalier Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto ' +
  'Nakamura Kobayashi Kato Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Singh Kumar Sharma Gupta Khan Ali Hussain Ahmed ' +
  'Okafor Okeke Mensah Boateng Nkosi Dlamini Silva Santos Oliveira Souza Costa Pereira Almeida Andersson Johansson Karlsson ' +
  'Nilsson Eriksson Larsson Olsen Hansen Jensen Nielsen Virtanen Korhonen OBrien Murray Byrne Ryan Walsh Doyle McCarthy ' +
  'Kennedy Lynch Quinn Sullivan Fitzgerald'
).split(' ');

export const MALE_GIVEN: readonly string[] = (
  'James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony Mark Donald ' +
  'Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric ' +
  'Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick Frank Raymond Jack Dennis Jerry ' +
  'José Luis Carlos Juan Hiroshi Wei Arjun Mohammed Kwame Lars Jürgen François Giovanni'
).split(' ');

export const FEMALE_GIVEN: readonly string[] = (
  'Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret Sandra Ashley ' +
  'Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy ' +
  'Angela Shirley Anna Brenda Pamela Emma Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn Janet Catherine ' +
  'Maria Heather María Sofía Yuki Mei Priya Fatima Ama Ingrid Zoë Amélie Chiara Aoife Chloé'
).split(' ');

const STREETS = (
  'Main St|Oak Ave|Maple Dr|Cedar Ln|Pine St|Elm St|Washington Blvd|Lake Rd|Hill St|Park Ave|Sunset Blvd|River Rd|Church St|' +
  'Mill Rd|Highland Ave|Forest Dr|Meadow Ln|Spring St|Ridge Rd|Broadway'
).split('|');

/** City, state, ZIP prefix. */
const CITIES: readonly string[][] = (
  'Springfield,IL,627|Boston,MA,021|Chicago,IL,606|Houston,TX,770|Phoenix,AZ,850|Philadelphia,PA,191|San Antonio,TX,782|' +
  'San Diego,CA,921|Dallas,TX,752|Austin,TX,787|Columbus,OH,432|Charlotte,NC,282|Seattle,WA,981|Denver,CO,802|' +
  'Nashville,TN,372|Portland,OR,972|Detroit,MI,482|Memphis,TN,381|Baltimore,MD,212|Milwaukee,WI,532|Albuquerque,NM,871|' +
  'Tucson,AZ,857|Fresno,CA,937|Atlanta,GA,303|Omaha,NE,681|Raleigh,NC,276|Miami,FL,331|Minneapolis,MN,554|Tulsa,OK,741|' +
  'Cleveland,OH,441'
)
  .split('|')
  .map((c) => c.split(','));

export interface ObservationKind {
  code: string;
  display: string;
  category: 'vital-signs' | 'laboratory';
  unit: string;
  ucum: string;
  lo: number;
  hi: number;
  normalLo: number;
  normalHi: number;
  decimals: number;
}

const kind = (
  code: string,
  display: string,
  category: ObservationKind['category'],
  unit: string,
  ucum: string,
  [lo, hi, normalLo, normalHi, decimals]: number[],
): ObservationKind => ({ code, display, category, unit, ucum, lo, hi, normalLo, normalHi, decimals });

/** Common ED observations: LOINC code, display, category, unit, UCUM code, [range lo, hi, normal lo, hi, decimals]. */
// biome-ignore format: one row per observation kind
export const OBSERVATION_KINDS: readonly ObservationKind[] = [
  kind('8867-4', 'Heart rate', 'vital-signs', 'beats/minute', '/min', [40, 160, 60, 100, 0]),
  kind('9279-1', 'Respiratory rate', 'vital-signs', 'breaths/minute', '/min', [8, 40, 12, 20, 0]),
  kind('8310-5', 'Body temperature', 'vital-signs', 'C', 'Cel', [35, 41, 36.1, 37.8, 1]),
  kind('59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry', 'vital-signs', '%', '%', [82, 100, 94, 100, 0]),
  kind('8480-6', 'Systolic blood pressure', 'vital-signs', 'mmHg', 'mm[Hg]', [80, 210, 90, 140, 0]),
  kind('8462-4', 'Diastolic blood pressure', 'vital-signs', 'mmHg', 'mm[Hg]', [40, 130, 60, 90, 0]),
  kind('29463-7', 'Body weight', 'vital-signs', 'kg', 'kg', [3, 180, 3, 180, 1]),
  kind('8302-2', 'Body height', 'vital-signs', 'cm', 'cm', [50, 205, 50, 205, 0]),
  kind('72514-3', 'Pain severity - 0-10 verbal numeric rating [Score] - Reported', 'vital-signs', '{score}', '{score}', [0, 10, 0, 3, 0]),
  kind('2339-0', 'Glucose [Mass/volume] in Blood', 'laboratory', 'mg/dL', 'mg/dL', [40, 450, 70, 140, 0]),
  kind('718-7', 'Hemoglobin [Mass/volume] in Blood', 'laboratory', 'g/dL', 'g/dL', [6, 19, 12, 17.5, 1]),
  kind('6690-2', 'Leukocytes [#/volume] in Blood by Automated count', 'laboratory', '10*3/uL', '10*3/uL', [1, 30, 4.5, 11, 1]),
  kind('777-3', 'Platelets [#/volume] in Blood by Automated count', 'laboratory', '10*3/uL', '10*3/uL', [20, 600, 150, 400, 0]),
  kind('2951-2', 'Sodium [Moles/volume] in Serum or Plasma', 'laboratory', 'mmol/L', 'mmol/L', [120, 160, 135, 145, 0]),
  kind('2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'laboratory', 'mmol/L', 'mmol/L', [2.5, 7, 3.5, 5.1, 1]),
  kind('2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', 'laboratory', 'mg/dL', 'mg/dL', [0.3, 8, 0.6, 1.3, 2]),
  kind('2524-7', 'Lactate [Moles/volume] in Serum or Plasma', 'laboratory', 'mmol/L', 'mmol/L', [0.4, 12, 0.5, 2.2, 1]),
  kind('89579-7', 'Troponin I.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method', 'laboratory', 'ng/L', 'ng/L', [0, 5000, 0, 26, 0]),
  kind('1988-5', 'C reactive protein [Mass/volume] in Serum or Plasma', 'laboratory', 'mg/L', 'mg/L', [0, 300, 0, 10, 1]),
  kind('33762-6', 'Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma', 'laboratory', 'pg/mL', 'pg/mL', [5, 30000, 5, 125, 0]),
];

const BASE_TIME = Date.UTC(2023, 0, 1);
const SPAN_MS = 3 * 365 * 86_400_000;

export function mrnOf(i: number): string {
  return `MRN${String(i).padStart(9, '0')}`;
}

/** Patient number `i`: MRN and SSN identifiers, name, gender, birth date, phone, address. */
export function makePatient(i: number): Patient {
  const r = rng(seedOf(1, i));
  const female = r() < 0.5;
  const family = pick(r, FAMILY_NAMES);
  const given = [pick(r, female ? FEMALE_GIVEN : MALE_GIVEN)];
  if (r() < 0.4) given.push(pick(r, female ? FEMALE_GIVEN : MALE_GIVEN));
  const [city, state, zipPrefix] = pick(r, CITIES);
  const birth = new Date(Date.UTC(1925, 0, 1) + Math.floor(r() * 99 * 365.25) * 86_400_000).toISOString().slice(0, 10);
  const digits = (n: number) =>
    Array.from({ length: n }, () => Math.floor(r() * 10))
      .join('')
      .padStart(n, '0');
  return {
    resourceType: 'Patient',
    identifier: [
      {
        use: 'usual',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
        system: MRN_SYSTEM,
        value: mrnOf(i),
      },
      { system: SSN_SYSTEM, value: `${digits(3)}-${digits(2)}-${digits(4)}` },
    ],
    active: true,
    name: [{ use: 'official', family, given }],
    telecom: [
      { system: 'phone', value: `(${digits(3)}) ${digits(3)}-${digits(4)}`, use: r() < 0.6 ? 'mobile' : 'home' },
      ...(r() < 0.5 ? [{ system: 'email' as const, value: `${given[0].toLowerCase()}.${family.toLowerCase()}${i}@example.com` }] : []),
    ],
    gender: female ? 'female' : 'male',
    birthDate: birth,
    address: [
      {
        use: 'home',
        line: [`${1 + Math.floor(r() * 9800)} ${pick(r, STREETS)}`],
        city,
        state,
        postalCode: `${zipPrefix}${digits(2)}`,
        country: 'US',
      },
    ],
  };
}

/** Observation number `i` about `patientId`: a vital sign or lab value with code, category, time and interpretation. */
export function makeObservation(i: number, patientId: string, kindIndex?: number): Observation {
  const r = rng(seedOf(2, i));
  const kind = OBSERVATION_KINDS[kindIndex ?? Math.floor(r() * OBSERVATION_KINDS.length)];
  const raw = kind.lo + r() * (kind.hi - kind.lo);
  const value = Number(raw.toFixed(kind.decimals));
  const when = new Date(BASE_TIME + Math.floor(r() * SPAN_MS)).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const flag = value < kind.normalLo ? 'L' : value > kind.normalHi ? 'H' : 'N';
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [
      {
        coding: [{ system: CATEGORY_SYSTEM, code: kind.category, display: kind.category === 'laboratory' ? 'Laboratory' : 'Vital Signs' }],
      },
    ],
    code: { coding: [{ system: LOINC, code: kind.code, display: kind.display }], text: kind.display },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: when,
    issued: new Date(Date.parse(when) + 60_000 + Math.floor(r() * 3_600_000)).toISOString(),
    valueQuantity: { value, unit: kind.unit, system: UCUM, code: kind.ucum },
    interpretation: [{ coding: [{ system: INTERPRETATION_SYSTEM, code: flag }] }],
  };
}

/**
 * A transaction Bundle of `patients` new Patients, each with `obsPerPatient` Observations that
 * reference their Patient by urn:uuid (the server must resolve the references on import).
 */
export function makeTransactionBundle(seed: number, patients: number, obsPerPatient: number): Bundle {
  const r = rng(seedOf(3, seed));
  const entry: BundleEntry[] = [];
  for (let p = 0; p < patients; p++) {
    const patientUrl = `urn:uuid:${uuidFrom(r)}`;
    const pi = 1_000_000_000 + seed * patients + p;
    entry.push({ fullUrl: patientUrl, resource: makePatient(pi), request: { method: 'POST', url: 'Patient' } });
    for (let o = 0; o < obsPerPatient; o++) {
      const obs = makeObservation(pi * obsPerPatient + o, 'x');
      obs.subject = { reference: patientUrl };
      entry.push({ fullUrl: `urn:uuid:${uuidFrom(r)}`, resource: obs, request: { method: 'POST', url: 'Observation' } });
    }
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
