import { parseSearchRequest } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../definitions.ts';
import { type DriverRank, driverRank, isBounded, probeFilters } from './driver.ts';

beforeAll(() => {
  loadBaseDefinitions();
});

function ranks(search: string): (DriverRank | undefined)[] {
  const request = parseSearchRequest(search);
  return (request.filters ?? []).map((f) => driverRank(request.resourceType, f));
}

describe('driverRank', () => {
  test('identifiers and ids first, then references, then other tokens and strings, then ranges, broad tokens last', () => {
    expect(ranks('Observation?_id=a&identifier=x|1&subject=Patient/p&code=8867-4&date=ge2026-01-01&status=final')).toEqual([
      0, 0, 1, 2, 3, 4,
    ]);
    expect(ranks('Patient?name=smi&gender=male&birthdate=1970-01-01')).toEqual([2, 4, 3]);
  });

  test('modifiers the planner is left with are not ranked', () => {
    expect(
      ranks(
        'Observation?code:not=1&subject:missing=true&code:text=pulse&subject.name=smith&_lastUpdated=gt2026-01-01&_has:Flag:subject:status=active',
      ),
    ).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(ranks('Observation?unknown-param=1')).toEqual([undefined]);
  });
});

describe('probeFilters', () => {
  test('the first of the lowest rank drives; the other ranked conditions probe; unranked ones are left alone', () => {
    expect(probeFilters([2, 1, undefined, 1, 4])).toEqual([true, false, false, true, true]);
  });

  test('a single ranked condition is not a probe', () => {
    expect(probeFilters([undefined, 3, undefined])).toEqual([false, false, false]);
    expect(probeFilters([])).toEqual([]);
  });
});

describe('isBounded', () => {
  test('a search that starts from an identifier, an _id or a reference is bounded; one from a code, a name or a status is not', () => {
    expect(isBounded(ranks('Patient?identifier=urn:mrn|1'))).toBe(true);
    expect(isBounded(ranks('Observation?code=8867-4&subject=Patient/p'))).toBe(true);
    expect(isBounded(ranks('Observation?subject:missing=true&_id=a'))).toBe(true);
    expect(isBounded(ranks('Observation?code=8867-4&date=ge2026-01-01'))).toBe(false);
    expect(isBounded(ranks('Patient?name=smi'))).toBe(false);
    expect(isBounded(ranks('Patient?gender=female'))).toBe(false);
    expect(isBounded(ranks('Observation?subject.name=smi'))).toBe(false);
    expect(isBounded(ranks('Patient'))).toBe(false);
  });
});
