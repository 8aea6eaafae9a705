import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { SSN_SYSTEM } from './codes.ts';
import { demographicsOf, normalizeText } from './demographics.ts';
import { matchPatient, scoreCandidate } from './match.ts';
import { areNicknames } from './nicknames.ts';
import { compareBirthDate, compareFamily, compareGiven } from './similarity.ts';

const person = (p: Partial<Patient> & { family?: string; given?: string[] }): Patient => {
  const { family, given, ...rest } = p;
  return { resourceType: 'Patient', name: [{ family, given }], ...rest };
};
const d = (p: Parameters<typeof person>[0]) => demographicsOf(person(p));

describe('normalisation and similarity', () => {
  test('accents, apostrophes, hyphens', () => {
    expect(normalizeText("José O'Brien-Núñez")).toBe('jose obrien nunez');
    expect(normalizeText('Łukasz Groß')).toBe('lukasz gross');
    expect(compareFamily(d({ family: 'García-López' }).family, d({ family: 'Garcia' }).family).kind).toBe('compound');
    expect(compareFamily(d({ family: 'Müller' }).family, d({ family: 'Muller' }).family).kind).toBe('exact');
    expect(compareFamily(['dubois'], ['dubios']).kind).toBe('typo');
    expect(compareFamily(['dubois'], ['nguyen']).kind).toBe('different');
  });
  test('nicknames, typos, middle names, initials', () => {
    expect(areNicknames('bill', 'william')).toBe(true);
    expect(areNicknames('liam', 'noah')).toBe(false);
    expect(compareGiven(['bob'], ['robert']).kind).toBe('nickname');
    expect(compareGiven(['catherine'], ['cathrine']).kind).toBe('typo');
    expect(compareGiven(['maria'], ['ana', 'maria']).kind).toBe('middle-name');
    expect(compareGiven(['j'], ['jonas']).kind).toBe('initial');
    expect(compareGiven(['liam'], ['noah']).kind).toBe('different');
  });
  test('birth dates: transposed day and month, one-digit typos, swapped digits', () => {
    expect(compareBirthDate('1984-02-03', '1984-03-02')).toBe('transposed');
    expect(compareBirthDate('1984-02-03', '1985-02-03')).toBe('typo');
    expect(compareBirthDate('1984-02-03', '1948-02-03')).toBe('typo');
    expect(compareBirthDate('1984-02-03', '1991-07-23')).toBe('different');
    expect(compareBirthDate('1984-02-03', undefined)).toBe('missing');
  });
});

const record = d({
  family: 'Dubois',
  given: ['Catherine'],
  birthDate: '1971-05-09',
  gender: 'female',
  telecom: [{ system: 'phone', value: '+1 (415) 555-0101' }],
  address: [{ line: ['12 Main Street'], postalCode: '94110' }],
});

describe('matchPatient', () => {
  test('a misspelt surname with the same birth date and phone is linked, with reasons', () => {
    const arrival = d({
      family: 'Dubios',
      given: ['Catherine'],
      birthDate: '1971-05-09',
      telecom: [{ system: 'phone', value: '415-555-0101' }],
    });
    const result = matchPatient(arrival, [{ candidate: 'Patient/1', demographics: record }]);
    expect(result.decision).toBe('link');
    expect(result.rationale).toContain('family name misspelt');
    expect(result.rationale).toContain('same phone number');
  });
  test('a nickname and a transposed birth date alone go to a clerk', () => {
    const arrival = d({ family: 'Dubois', given: ['Kathy'], birthDate: '1971-09-05' });
    const result = matchPatient(arrival, [{ candidate: 'Patient/1', demographics: record }]);
    expect(result.decision).toBe('review');
    expect(result.best?.score.reasons.map((r) => r.field)).toEqual(['family', 'given', 'birthDate']);
  });
  test('twins: same birth date, surname, phone and address but a different given name are never linked', () => {
    const liam = d({
      family: 'Okafor',
      given: ['Liam'],
      birthDate: '2001-07-14',
      gender: 'male',
      telecom: [{ system: 'phone', value: '5550199' }],
      address: [{ line: ['4 Elm Rd'], postalCode: '10001' }],
    });
    const noah = d({
      family: 'Okafor',
      given: ['Noah'],
      birthDate: '2001-07-14',
      gender: 'male',
      telecom: [{ system: 'phone', value: '5550199' }],
      address: [{ line: ['4 Elm Road'], postalCode: '10001' }],
    });
    const score = scoreCandidate(noah, liam);
    expect(score.block).toBe('different-person');
    const result = matchPatient(noah, [{ candidate: 'Patient/liam', demographics: liam }]);
    expect(result.decision).toBe('new');
    expect(result.rationale).toContain('twin');
  });
  test('a shared SSN links deterministically; a different SSN is a different person', () => {
    const withSsn = (value: string, given: string) =>
      d({ family: 'Rivera', given: [given], birthDate: '1984-02-03', identifier: [{ system: SSN_SYSTEM, value }] });
    expect(matchPatient(withSsn('123-45-6789', 'Ana'), [{ candidate: 'a', demographics: withSsn('123456789', 'Anna') }]).decision).toBe(
      'link',
    );
    expect(matchPatient(withSsn('123-45-6789', 'Ana'), [{ candidate: 'a', demographics: withSsn('987654321', 'Ana') }]).decision).toBe(
      'new',
    );
  });
  test('a shared MRN on someone who looks different goes to a clerk', () => {
    const mrn = [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, value: 'M100' }];
    const a = d({ family: 'Smith', given: ['John'], birthDate: '1950-01-01', identifier: mrn });
    const b = d({ family: 'Nguyen', given: ['Thi'], birthDate: '1990-06-30', identifier: mrn });
    expect(matchPatient(a, [{ candidate: 'x', demographics: b }]).decision).toBe('review');
  });
  test('two records both matching is never an automatic link', () => {
    const arrival = d({ family: 'Dubois', given: ['Catherine'], birthDate: '1971-05-09' });
    const result = matchPatient(arrival, [
      { candidate: 'Patient/1', demographics: record },
      { candidate: 'Patient/2', demographics: record },
    ]);
    expect(result.decision).toBe('review');
    expect(result.rationale).toContain('Several records match');
  });
  test('no candidates: a new patient', () => {
    expect(matchPatient(record, []).decision).toBe('new');
  });
});
