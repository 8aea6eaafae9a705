import type { AccessPolicy, ProjectMembership } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { policyOptions, ROLE_TAG_SYSTEM, roleCode, setPasswordLinkOf } from './project-api.ts';

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

describe('setPasswordLinkOf', () => {
  const membership: ProjectMembership = {
    resourceType: 'ProjectMembership',
    project: { reference: 'Project/p' },
    user: { reference: 'User/u' },
    profile: { reference: 'Practitioner/x' },
  };

  test('reads the link the invite answered with', () => {
    const link = 'http://localhost:8103/setpassword/1a5bb08c-9442-4433-9212-aae40202053e/e4ef07ebb74f38c1f52146c1891b6024';
    expect(
      setPasswordLinkOf({
        ...membership,
        extension: [
          { url: 'https://emergisphere.dev/fhir/StructureDefinition/invite-email', valueCode: 'not-configured' },
          { url: 'https://emergisphere.dev/fhir/StructureDefinition/set-password-url', valueUrl: link },
        ],
      }),
    ).toBe(link);
  });

  test('none when the email went out or a password was given', () => {
    expect(setPasswordLinkOf(membership)).toBeUndefined();
  });
});
