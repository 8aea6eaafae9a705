// Master patient index benchmark: precision and recall of the admission agent's patient matching.
//
//   node scripts/bench/mpi.ts            (npm run bench:mpi)
//
// Generates a seeded population of BENCH_RECORDS patients (default 5,000; accented, hyphenated and
// compound names, shared surnames, ~3% twin pairs sharing birth date, phone and address), then
// arrivals: BENCH_RETURNING returning patients (default 2,000) entered with realistic errors
// (misspelt surname or given name, nickname, transposed day/month, one-digit birth-date typo,
// dropped accents or half of a hyphenated name, new phone or address, missing fields, sometimes an
// SSN) and BENCH_NEW new patients (default 1,000; a third of them the twin of someone on file, a
// third sharing a name with someone on file). Each arrival is blocked (bots/admission/candidates.ts)
// and scored (bots/admission/match.ts) exactly as the bot does. Prints precision / recall / F1 of
// automatic links, what a clerk's review adds, false merges, and recall per kind of error.
//
// Environment: BENCH_RECORDS, BENCH_RETURNING, BENCH_NEW, BENCH_SEED.
import type { Patient } from '@medplum/fhirtypes';
import { blockingKeys, lookupKeys } from '../../bots/admission/candidates.ts';
import { SSN_SYSTEM } from '../../bots/admission/codes.ts';
import { type Demographics, demographicsOf } from '../../bots/admission/demographics.ts';
import { DEFAULT_THRESHOLDS, matchPatient } from '../../bots/admission/match.ts';
import nicknames from '../../bots/admission/nicknames.json' with { type: 'json' };
import { rng } from './lib/data.ts';
import { printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const RECORDS = num(process.env.BENCH_RECORDS, 5000);
const RETURNING = num(process.env.BENCH_RETURNING, 2000);
const NEW = num(process.env.BENCH_NEW, 1000);
const random = rng(num(process.env.BENCH_SEED, 20_250_427));

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const chance = (p: number) => random() < p;

const GIVEN_F = [
  'Catherine',
  'Elizabeth',
  'Margaret',
  'María',
  'Ana',
  'Zoë',
  'Renée',
  'Chloé',
  'Inés',
  'Jennifer',
  'Patricia',
  'Susan',
  'Rebecca',
  'Victoria',
  'Isabel',
  'Sarah',
  'Olivia',
  'Emily',
  'Helen',
  'Dolores',
  'Guadalupe',
  'Aisha',
  'Mei',
  'Priya',
  'Fatima',
  'Ngozi',
  'Siobhan',
  'Agnieszka',
  'Björk',
  'Yuki',
];
const GIVEN_M = [
  'William',
  'Robert',
  'James',
  'John',
  'Michael',
  'Joseph',
  'Thomas',
  'Charles',
  'José',
  'François',
  'Łukasz',
  'Søren',
  'Andrew',
  'Daniel',
  'Matthew',
  'Anthony',
  'Edward',
  'Alexander',
  'Nicholas',
  'Richard',
  'Henry',
  'Peter',
  'Liam',
  'Noah',
  'Mohammed',
  'Dmitri',
  'Kwame',
  'Hiroshi',
  'Arjun',
  'Ignacio',
];
const FAMILY = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'García',
  'Miller',
  'Davis',
  'Rodríguez',
  'Martínez',
  'Hernández',
  'López',
  'González',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Pérez',
  'Thompson',
  'White',
  'Harris',
  'Sánchez',
  'Clark',
  'Ramírez',
  'Lewis',
  'Robinson',
  'Nguyễn',
  'Müller',
  'Dubois',
  "O'Brien",
  'Kowalski',
  'Okafor',
  'Novák',
  'Søndergaard',
  'Castillo',
  'Chen',
  'Wang',
  'Kim',
  'Patel',
  'Singh',
  'Cohen',
  'Rossi',
  'Ferreira',
  'Moreau',
  'Lefèvre',
  'Schäfer',
];
const STREETS = ['Main Street', 'Oak Avenue', 'Elm Road', 'Harbor Way', 'Mission Street', 'Park Boulevard', 'Cedar Lane', 'Hill Drive'];

function birthDate(): string {
  const y = 1930 + Math.floor(random() * 90);
  const m = 1 + Math.floor(random() * 12);
  const d = 1 + Math.floor(random() * 28);
  return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function familyName(): string {
  return chance(0.12) ? `${pick(FAMILY)}-${pick(FAMILY)}` : pick(FAMILY);
}

function phone(): string {
  return `(${200 + Math.floor(random() * 700)}) 555-${String(Math.floor(random() * 10000)).padStart(4, '0')}`;
}

function ssn(): string {
  return String(100_000_000 + Math.floor(random() * 800_000_000));
}

function person(): Patient {
  const gender = chance(0.5) ? 'female' : 'male';
  return {
    resourceType: 'Patient',
    name: [
      {
        family: familyName(),
        given: [pick(gender === 'female' ? GIVEN_F : GIVEN_M), ...(chance(0.3) ? [pick(gender === 'female' ? GIVEN_F : GIVEN_M)] : [])],
      },
    ],
    gender,
    birthDate: birthDate(),
    telecom: chance(0.85) ? [{ system: 'phone', value: phone() }] : [],
    address: chance(0.9)
      ? [{ line: [`${1 + Math.floor(random() * 999)} ${pick(STREETS)}`], postalCode: String(10000 + Math.floor(random() * 89999)) }]
      : [],
    identifier: chance(0.4) ? [{ system: SSN_SYSTEM, value: ssn() }] : [],
  };
}

function twinOf(p: Patient): Patient {
  const list = p.gender === 'female' ? GIVEN_F : GIVEN_M;
  let given = pick(list);
  while (given === p.name?.[0].given?.[0]) given = pick(list);
  return {
    ...structuredClone(p),
    name: [{ family: p.name?.[0].family, given: [given] }],
    identifier: p.identifier?.length ? [{ system: SSN_SYSTEM, value: ssn() }] : [],
  };
}

function typo(word: string): string {
  if (word.length < 4) return word;
  const i = 1 + Math.floor(random() * (word.length - 2));
  const kind = Math.floor(random() * 3);
  if (kind === 0) return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2); // swap
  if (kind === 1) return word.slice(0, i) + word.slice(i + 1); // drop
  return word.slice(0, i) + word[i] + word.slice(i); // double
}

const NICKNAMES = new Map<string, string[]>();
for (const group of nicknames.groups)
  for (const n of group) NICKNAMES.set(n, [...(NICKNAMES.get(n) ?? []), ...group.filter((x) => x !== n)]);

const deaccent = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '');
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

type ErrorKind =
  | 'none'
  | 'surname typo'
  | 'given typo'
  | 'nickname'
  | 'transposed date'
  | 'date typo'
  | 'accents dropped'
  | 'half of hyphenated name'
  | 'new phone and address'
  | 'missing phone and address'
  | 'SSN given';
const ERRORS: ErrorKind[] = [
  'none',
  'surname typo',
  'given typo',
  'nickname',
  'transposed date',
  'date typo',
  'accents dropped',
  'half of hyphenated name',
  'new phone and address',
  'missing phone and address',
  'SSN given',
];

function withError(p: Patient, kind: ErrorKind): Patient | undefined {
  const q = structuredClone(p);
  q.identifier = [];
  const name = q.name?.[0] ?? {};
  const given = name.given?.[0] ?? '';
  switch (kind) {
    case 'none':
      return q;
    case 'surname typo':
      name.family = typo(name.family ?? '');
      return q;
    case 'given typo':
      name.given = [typo(given)];
      return q;
    case 'nickname': {
      const options = NICKNAMES.get(deaccent(given).toLowerCase());
      if (!options) return undefined;
      name.given = [cap(pick(options))];
      return q;
    }
    case 'transposed date': {
      const [y, m, d] = (q.birthDate ?? '').split('-');
      if (Number(d) > 12 || m === d) return undefined;
      q.birthDate = `${y}-${d}-${m}`;
      return q;
    }
    case 'date typo': {
      const y = Number(q.birthDate?.slice(0, 4));
      q.birthDate = `${y + (chance(0.5) ? 1 : -1)}${q.birthDate?.slice(4)}`;
      return q;
    }
    case 'accents dropped':
      if (deaccent(`${name.family}${given}`) === `${name.family}${given}`) return undefined;
      name.family = deaccent(name.family ?? '');
      name.given = name.given?.map(deaccent);
      return q;
    case 'half of hyphenated name':
      if (!name.family?.includes('-')) return undefined;
      name.family = name.family.split('-')[0];
      return q;
    case 'new phone and address':
      q.telecom = [{ system: 'phone', value: phone() }];
      q.address = [
        { line: [`${1 + Math.floor(random() * 999)} ${pick(STREETS)}`], postalCode: String(10000 + Math.floor(random() * 89999)) },
      ];
      return q;
    case 'missing phone and address':
      q.telecom = [];
      q.address = [];
      return q;
    case 'SSN given':
      if (!p.identifier?.length) return undefined;
      q.identifier = p.identifier;
      name.family = typo(name.family ?? '');
      return q;
  }
}

// The population.
const records: { id: string; patient: Patient; demographics: Demographics }[] = [];
const add = (patient: Patient) => records.push({ id: `P${records.length}`, patient, demographics: demographicsOf(patient) });
while (records.length < RECORDS) {
  const p = person();
  add(p);
  if (chance(0.03) && records.length < RECORDS) add(twinOf(p));
}
const index = new Map<string, number[]>();
records.forEach((r, i) => {
  for (const k of blockingKeys(r.demographics)) index.set(k, [...(index.get(k) ?? []), i]);
});

// The arrivals.
type Arrival = { patient: Patient; truth?: string; kind: string };
const arrivals: Arrival[] = [];
while (arrivals.filter((a) => a.truth).length < RETURNING) {
  const r = pick(records);
  const kind = pick(ERRORS);
  const patient = withError(r.patient, kind);
  if (patient) arrivals.push({ patient, truth: r.id, kind });
}
for (let i = 0; i < NEW; i++) {
  const third = i % 3;
  if (third === 0) arrivals.push({ patient: twinOf(pick(records).patient), kind: 'new: twin of a patient on file' });
  else if (third === 1) {
    const namesake = structuredClone(pick(records).patient);
    const other = person();
    arrivals.push({ patient: { ...other, name: namesake.name, gender: namesake.gender }, kind: 'new: namesake of a patient on file' });
  } else arrivals.push({ patient: person(), kind: 'new: unrelated' });
}

// Matching, as the bot does it.
const started = performance.now();
type Row = { kind: string; n: number; linkedRight: number; linkedWrong: number; reviewRight: number; reviewOther: number; missed: number };
const rows = new Map<string, Row>();
let tp = 0;
let fp = 0;
let reviewRight = 0;
let reviews = 0;
let compared = 0;
for (const a of arrivals) {
  const d = demographicsOf(a.patient);
  const found = new Set<number>();
  for (const k of lookupKeys(d)) for (const i of index.get(k) ?? []) found.add(i);
  compared += found.size;
  const result = matchPatient(
    d,
    [...found].map((i) => ({ candidate: records[i].id, demographics: records[i].demographics })),
    DEFAULT_THRESHOLDS,
  );
  const row = rows.get(a.kind) ?? { kind: a.kind, n: 0, linkedRight: 0, linkedWrong: 0, reviewRight: 0, reviewOther: 0, missed: 0 };
  rows.set(a.kind, row);
  row.n++;
  const best = result.best?.candidate;
  if (result.decision === 'link') {
    if (best === a.truth) {
      tp++;
      row.linkedRight++;
    } else {
      fp++;
      row.linkedWrong++;
      if (process.env.BENCH_DEBUG) console.error(JSON.stringify(a.patient.name), a.patient.birthDate, result.rationale);
    }
  } else if (result.decision === 'review') {
    reviews++;
    if (a.truth && best === a.truth) {
      reviewRight++;
      row.reviewRight++;
    } else row.reviewOther++;
  } else if (a.truth) row.missed++;
}
const elapsed = performance.now() - started;

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const precision = tp / Math.max(1, tp + fp);
const recall = tp / RETURNING;
const f1 = (2 * precision * recall) / Math.max(1e-9, precision + recall);
const recallWithClerk = (tp + reviewRight) / RETURNING;
printTable(
  `Patient matching: ${records.length.toLocaleString('en-US')} records, ${RETURNING.toLocaleString('en-US')} returning and ${NEW.toLocaleString('en-US')} new arrivals (link ≥ ${DEFAULT_THRESHOLDS.link}, review ≥ ${DEFAULT_THRESHOLDS.review})`,
  ['Metric', 'Value'],
  [
    ['precision of automatic links', pct(precision)],
    ['recall of automatic links', pct(recall)],
    ['F1 of automatic links', pct(f1)],
    ['recall with the clerk confirming the grey zone', pct(recallWithClerk)],
    ['false merges (linked to the wrong person)', fp],
    ['arrivals sent to a clerk', `${reviews} (${pct(reviews / arrivals.length)})`],
    ['candidates scored per arrival', (compared / arrivals.length).toFixed(1)],
    ['matching time per arrival', `${((elapsed / arrivals.length) * 1000).toFixed(0)} µs`],
  ],
);
printTable(
  'By kind of arrival',
  ['Arrival', 'n', 'linked right', 'linked wrong', 'clerk, right record', 'clerk, other', 'new (missed if returning)'],
  [...rows.values()]
    .sort((x, y) => x.kind.localeCompare(y.kind))
    .map((r) => [r.kind, r.n, r.linkedRight, r.linkedWrong, r.reviewRight, r.reviewOther, r.missed]),
);
