import { Operator, parseSearchRequest } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { criteriaLockKey, transactionCriteriaKeys } from './criteria-lock.ts';

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

describe('transactionCriteriaKeys', () => {
  const entry = (method: 'POST' | 'PUT' | 'DELETE' | 'GET', url: string, ifNoneExist?: string) => ({
    request: { method, url, ifNoneExist },
  });

  test('the conditional entries of a Bundle, each criteria once, in one order whatever the Bundle order', () => {
    const keys = transactionCriteriaKeys({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        entry('POST', 'Flag', 'identifier=urn:k|b'),
        entry('PUT', 'Patient?identifier=urn:mrn|1'),
        entry('POST', 'Flag', 'identifier=urn:k|b'),
        entry('DELETE', 'Task?identifier=urn:t|1'),
        entry('POST', 'Observation'),
        entry('PUT', 'Patient/123'),
        entry('GET', 'Patient?name=x'),
      ],
    });
    expect(keys).toEqual(
      ['Flag?identifier=urn:k|b', 'Patient?identifier=urn:mrn|1', 'Task?identifier=urn:t|1']
        .map((q) => criteriaLockKey(parseSearchRequest(q)))
        .sort(),
    );
    const reversed = transactionCriteriaKeys({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        entry('DELETE', 'Task?identifier=urn:t|1'),
        entry('PUT', 'Patient?identifier=urn:mrn|1'),
        entry('POST', 'Flag', 'identifier=urn:k|b'),
      ],
    });
    expect(reversed).toEqual(keys);
  });

  test('criteria naming another entry are left to that entry; one criteria alone saves nothing', () => {
    const keys = (entries: ReturnType<typeof entry>[]) =>
      transactionCriteriaKeys({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(keys([entry('POST', 'Flag', 'subject=urn:uuid:1&code=x'), entry('POST', 'Task', 'identifier=urn:t|1')])).toEqual([]);
    expect(keys([entry('POST', 'Task', 'identifier=urn:t|1'), entry('POST', 'Task', 'identifier=urn:t|1')])).toEqual([]);
    expect(keys([])).toEqual([]);
  });
});
