import type { AccessPolicy } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { policyOptions, ROLE_TAG_SYSTEM, roleCode } from './project-api.ts';

const role = (id: string, name: string, code: string): AccessPolicy => ({
  resourceType: 'AccessPolicy',
  id,
  name,
  meta: { tag: [{ system: ROLE_TAG_SYSTEM, code }] },
});

describe('policyOptions', () => {
  test('shipped roles first by name, then custom policies, each labelled', () => {
    const custom: AccessPolicy = { resourceType: 'AccessPolicy', id: 'c1', name: 'Auditors' };
    const options = policyOptions([
      role('r2', 'Triage nurse', 'triage-nurse'),
      custom,
      role('r1', 'Registration clerk', 'registration-clerk'),
    ]);
    expect(options).toEqual([
      { value: 'AccessPolicy/r1', label: 'Registration clerk (role registration-clerk)' },
      { value: 'AccessPolicy/r2', label: 'Triage nurse (role triage-nurse)' },
      { value: 'AccessPolicy/c1', label: 'Auditors (custom policy)' },
    ]);
  });

  test('a tag of another system is not a role', () => {
    expect(roleCode({ resourceType: 'AccessPolicy', meta: { tag: [{ system: 'http://other', code: 'x' }] } })).toBeUndefined();
  });
});
