import { describe, expect, test } from 'vitest';
import { jurisdictionOfAddress, resolveJurisdiction } from './jurisdiction.ts';

const available = ['default', 'US-CA', 'US-NY'];

describe('jurisdiction', () => {
  test('a US state from an address, by code or name', () => {
    expect(jurisdictionOfAddress({ state: 'CA', country: 'US' })).toBe('US-CA');
    expect(jurisdictionOfAddress({ state: 'New York' })).toBe('US-NY');
    expect(jurisdictionOfAddress({ state: 'ny', country: 'United States of America' })).toBe('US-NY');
    expect(jurisdictionOfAddress({ state: 'Ontario', country: 'CA' })).toBeUndefined();
    expect(jurisdictionOfAddress({ city: 'Springfield' })).toBeUndefined();
  });

  test('where care is given first, then the organisation, then the secret, then the defaults', () => {
    const location = { reference: 'Location/ed', address: { state: 'NY' } };
    const organization = { reference: 'Organization/h', address: [{ state: 'California' }] };
    expect(resolveJurisdiction({ location, organization, configured: 'US-CA' }, available)).toEqual({
      code: 'US-NY',
      reason: 'US-NY from the address of Location/ed',
    });
    expect(resolveJurisdiction({ organization, configured: 'US-NY' }, available).code).toBe('US-CA');
    expect(resolveJurisdiction({ configured: 'US-NY' }, available)).toEqual({
      code: 'US-NY',
      reason: 'US-NY from the project secret LEGAL_JURISDICTION',
    });
    expect(resolveJurisdiction({}, available).code).toBe('default');
  });

  test('a state without a rule file falls back to the default rules, saying so', () => {
    const texas = resolveJurisdiction({ organization: { reference: 'Organization/h', address: [{ state: 'TX' }] } }, available);
    expect(texas).toEqual({ code: 'default', reason: 'US-TX from the address of Organization/h, which has no rule file: default rules' });
  });
});
