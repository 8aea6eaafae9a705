import type { Encounter, ServiceRequest } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { familyPhase, providerStart } from './phase.ts';

const ed = (over: Partial<Encounter> = {}): Encounter => ({
  resourceType: 'Encounter',
  id: 'e1',
  status: 'arrived',
  class: { code: 'EMER' },
  period: { start: '2026-12-02T10:00:00Z' },
  ...over,
});
const attending = (start: string) => ({ type: [{ coding: [{ code: 'ATND' }] }], period: { start } });
const order = (status: ServiceRequest['status']): ServiceRequest => ({
  resourceType: 'ServiceRequest',
  status,
  intent: 'order',
  subject: {},
});

describe('familyPhase', () => {
  test('arrived and triaged patients without a provider have arrived', () => {
    expect(familyPhase({ encounter: ed(), orders: [] })).toBe('arrived');
    expect(familyPhase({ encounter: ed({ status: 'triaged' }), orders: [order('active')] })).toBe('arrived');
  });

  test('a provider assigned (or the visit in progress) is being seen', () => {
    expect(familyPhase({ encounter: ed({ status: 'triaged', participant: [attending('2026-12-02T10:20:00Z')] }), orders: [] })).toBe(
      'being-seen',
    );
    expect(familyPhase({ encounter: ed({ status: 'in-progress' }), orders: [order('completed')] })).toBe('being-seen');
  });

  test('a participant that is not a provider does not count', () => {
    const nurse = { type: [{ coding: [{ code: 'PART' }] }], period: { start: '2026-12-02T10:05:00Z' } };
    expect(familyPhase({ encounter: ed({ status: 'triaged', participant: [nurse] }), orders: [] })).toBe('arrived');
  });

  test('an open order after the provider is waiting for results, until it completes', () => {
    const encounter = ed({ status: 'in-progress', participant: [attending('2026-12-02T10:20:00Z')] });
    expect(familyPhase({ encounter, orders: [order('completed'), order('active')] })).toBe('waiting-for-results');
    expect(familyPhase({ encounter, orders: [order('completed'), order('revoked')] })).toBe('being-seen');
  });

  test('finished or cancelled is discharged; an admission wins over both', () => {
    expect(familyPhase({ encounter: ed({ status: 'finished' }), orders: [] })).toBe('discharged');
    expect(familyPhase({ encounter: ed({ status: 'cancelled' }), orders: [] })).toBe('discharged');
    const admission: Encounter = { resourceType: 'Encounter', status: 'in-progress', class: { code: 'IMP' } };
    expect(familyPhase({ encounter: ed({ status: 'finished' }), admission, orders: [] })).toBe('admitted');
    expect(familyPhase({ encounter: ed({ status: 'finished' }), admission: { ...admission, status: 'cancelled' }, orders: [] })).toBe(
      'discharged',
    );
  });

  test('providerStart is the earliest provider start', () => {
    expect(providerStart(ed({ participant: [attending('2026-12-02T10:40:00Z'), attending('2026-12-02T10:20:00Z')] }))).toBe(
      '2026-12-02T10:20:00Z',
    );
    expect(providerStart(ed())).toBeUndefined();
  });
});
