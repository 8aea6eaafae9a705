import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { parseResendOptions } from './resend.ts';

describe('parseResendOptions', () => {
  test('Medplum body, Parameters body, empty body', () => {
    expect(parseResendOptions({ subscription: 'Subscription/abc', interaction: 'update', verbose: true })).toEqual({
      subscription: 'Subscription/abc',
      interaction: 'update',
    });
    expect(parseResendOptions({ resourceType: 'Parameters', parameter: [{ name: 'subscription', valueString: 'abc' }] })).toEqual({
      subscription: 'abc',
      interaction: undefined,
    });
    expect(parseResendOptions(undefined)).toEqual({});
  });

  test.each([[{ interaction: 'touch' }], [{ subscription: 'Observation/1' }], [{ subscription: 42 }], ['text']])('%j → 400', (body) => {
    expect(() => parseResendOptions(body)).toThrow(OperationOutcomeError);
  });
});
