import type { Bundle, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { consecutiveChanges, lastLiveVersion } from './history.ts';

const v = (versionId: string, phone: string): Patient => ({
  resourceType: 'Patient',
  id: 'p',
  meta: { versionId },
  telecom: [{ system: 'phone', value: phone }],
});

describe('instance history helpers', () => {
  const history: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    entry: [
      { resource: v('4', '555-4') },
      { request: { method: 'DELETE', url: 'Patient/p' }, response: { status: '410' } },
      { resource: v('2', '555-2') },
      { resource: v('1', '555-1') },
    ],
  };

  test('pairs each version with the one before it, never across a deletion', () => {
    expect(consecutiveChanges(history).map((c) => [c.revised.meta?.versionId, c.original.meta?.versionId])).toEqual([['2', '1']]);
    expect(consecutiveChanges({ resourceType: 'Bundle', type: 'history' })).toEqual([]);
  });

  test('the version to restore is the newest one with content', () => {
    expect(lastLiveVersion({ ...history, entry: history.entry?.slice(1) })?.meta?.versionId).toBe('2');
    expect(lastLiveVersion(history)?.meta?.versionId).toBe('4');
    expect(lastLiveVersion({ resourceType: 'Bundle', type: 'history', entry: [{ response: { status: '410' } }] })).toBeUndefined();
  });
});
