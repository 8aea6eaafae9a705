import type { Subscription } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { EXT, parseSubscription, priorityOf } from './subscription.ts';

const base: Subscription & { id: string } = {
  resourceType: 'Subscription',
  id: 'sub-1',
  status: 'active',
  reason: 'test',
  criteria: 'Observation?category=vital-signs',
  channel: { type: 'rest-hook', endpoint: 'Bot/1' },
};

const withPriority = (code: string): Subscription & { id: string } => ({
  ...base,
  extension: [{ url: EXT.priority, valueCode: code }],
});

describe('subscription priority', () => {
  test('request-priority codes rank routine < urgent < asap < stat', () => {
    expect(['routine', 'urgent', 'asap', 'stat'].map((c) => priorityOf(withPriority(c)))).toEqual([0, 1, 2, 3]);
  });

  test('no extension, or a code that is not a request priority, is routine', () => {
    expect(priorityOf(base)).toBe(0);
    expect(priorityOf(withPriority('now'))).toBe(0);
  });

  test('the parsed subscription carries its rank', () => {
    expect(parseSubscription(withPriority('stat')).priority).toBe(3);
    expect(parseSubscription(base).priority).toBe(0);
  });
});
