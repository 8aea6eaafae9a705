import { expect, test } from 'vitest';
import { candidateSearches, transposedDate } from './candidates.ts';
import { demographicsOf } from './demographics.ts';

test('blocking searches: identifiers, the birth date and its transposition, phone, the start of each family-name part', () => {
  const d = demographicsOf({
    resourceType: 'Patient',
    name: [{ family: 'García-López', given: ['Ana'] }],
    birthDate: '1984-02-03',
    telecom: [{ system: 'phone', value: '+1 415 555 0101' }],
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789' }],
  });
  expect(
    candidateSearches(d).map((s) => [
      s.why,
      Object.entries(s.params)
        .find(([k]) => k !== '_count')
        ?.join('='),
    ]),
  ).toEqual([
    ['identifier ssn', 'identifier=http://hl7.org/fhir/sid/us-ssn|123456789'],
    ['birth date', 'birthdate=1984-02-03'],
    ['transposed birth date', 'birthdate=1984-03-02'],
    ['phone', 'phone=4155550101'],
    ['family name', 'family=gar'],
    ['family name', 'family=lop'],
  ]);
  expect(transposedDate('1984-02-13')).toBeUndefined();
  expect(transposedDate('1984-05-05')).toBeUndefined();
});
