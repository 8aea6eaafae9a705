import { Operator, parseSearchRequest } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { criteriaLockKey } from './criteria-lock.ts';

describe('criteriaLockKey', () => {
  test('the same criteria in any order give the same key', () => {
    const a = parseSearchRequest('Patient?identifier=urn:a|1&birthdate=2000-01-01');
    const b = parseSearchRequest('Patient?birthdate=2000-01-01&identifier=urn:a|1');
    expect(criteriaLockKey(a)).toBe(criteriaLockKey(b));
  });

  test('a different type, value, parameter or modifier gives another key', () => {
    const base = criteriaLockKey(parseSearchRequest('Patient?identifier=urn:a|1'));
    const others = [
      'Practitioner?identifier=urn:a|1',
      'Patient?identifier=urn:a|2',
      'Patient?identifier=urn:b|1',
      'Patient?identifier:not=urn:a|1',
      'Patient?name=urn:a|1',
    ].map((q) => criteriaLockKey(parseSearchRequest(q)));
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  test('the operator is part of the key', () => {
    const eq = criteriaLockKey({ resourceType: 'Observation', filters: [{ code: 'date', operator: Operator.EQUALS, value: '2020' }] });
    const gt = criteriaLockKey({
      resourceType: 'Observation',
      filters: [{ code: 'date', operator: Operator.GREATER_THAN, value: '2020' }],
    });
    expect(eq).not.toBe(gt);
  });
});
