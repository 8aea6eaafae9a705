import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { parseInvite } from './invite.ts';

describe('parseInvite', () => {
  const ok = { resourceType: 'Practitioner', firstName: ' Ann ', lastName: 'Lee', email: ' Ann.Lee@Example.ORG ' };

  test('normalises email and names', () => {
    expect(parseInvite(ok)).toMatchObject({ email: 'ann.lee@example.org', firstName: 'Ann', lastName: 'Lee' });
  });

  test.each([
    [null, 'JSON body'],
    [{ ...ok, resourceType: 'Device' }, 'resourceType'],
    [{ ...ok, firstName: '' }, 'firstName'],
    [{ ...ok, email: undefined }, 'email'],
    [{ ...ok, email: 'nope' }, 'email'],
    [{ ...ok, password: 'short' }, 'password'],
    [{ ...ok, sendEmail: 'yes' }, 'sendEmail'],
  ])('%j → 400 about %s', (body, text) => {
    try {
      parseInvite(body);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OperationOutcomeError);
      expect(JSON.stringify((err as OperationOutcomeError).outcome)).toContain(text);
    }
  });
});
