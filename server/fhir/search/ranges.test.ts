import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { parseDateRange, parseNumberValue, toTimestamp } from './ranges.ts';

function range(value: string): [string, string] {
  const { lo, hi } = parseDateRange(value, 'date');
  return [lo.toISOString(), hi.toISOString()];
}

describe('parseDateRange', () => {
  test('each precision covers its whole period', () => {
    expect(range('2024')).toEqual(['2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']);
    expect(range('2024-02')).toEqual(['2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z']);
    expect(range('2023-02')).toEqual(['2023-02-01T00:00:00.000Z', '2023-03-01T00:00:00.000Z']);
    expect(range('2024-12')).toEqual(['2024-12-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']);
    expect(range('2024-02-29')).toEqual(['2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z']);
    expect(range('2024-03-01T10:15')).toEqual(['2024-03-01T10:15:00.000Z', '2024-03-01T10:16:00.000Z']);
    expect(range('2024-03-01T10:15:30')).toEqual(['2024-03-01T10:15:30.000Z', '2024-03-01T10:15:31.000Z']);
    expect(range('2024-03-01T10:15:30.25Z')).toEqual(['2024-03-01T10:15:30.250Z', '2024-03-01T10:15:30.251Z']);
  });

  test('time zones shift the instant', () => {
    expect(range('2024-03-01T01:00+02:00')).toEqual(['2024-02-29T23:00:00.000Z', '2024-02-29T23:01:00.000Z']);
    expect(range('2024-03-01T23:30:00-05:30')).toEqual(['2024-03-02T05:00:00.000Z', '2024-03-02T05:00:01.000Z']);
  });

  test('years below 100 stay themselves', () => {
    expect(range('0099')[0]).toBe('0099-01-01T00:00:00.000Z');
  });

  test.each([
    '2024-13',
    '2024-00',
    '2024-02-30',
    '2023-02-29',
    '2024-04-31',
    '2024-01-01T24:00',
    '2024-01-01T10:60',
    '2024-01-01T10',
    '2024-01-01T10:00+15:00',
    'yesterday',
    '',
    "2024' OR 1=1",
  ])('%s is a 400 naming the parameter', (value) => {
    let error: unknown;
    try {
      parseDateRange(value, 'birthdate');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OperationOutcomeError);
    const outcome = (error as OperationOutcomeError).outcome;
    expect(outcome.issue?.[0]?.code).toBe('invalid');
    expect(outcome.issue?.[0]?.details?.text).toContain('birthdate');
  });
});

describe('toTimestamp', () => {
  test('bounds beyond what PostgreSQL parses become infinities', () => {
    expect(toTimestamp(new Date('2024-01-01T00:00:00Z'))).toBe('2024-01-01T00:00:00.000Z');
    const tooLate = new Date(0);
    tooLate.setUTCFullYear(10000, 0, 1);
    expect(toTimestamp(tooLate)).toBe('infinity');
  });
});

describe('parseNumberValue', () => {
  test('the implicit range is half a unit of the last digit', () => {
    expect(parseNumberValue('100', 'n')).toEqual({ exact: '100', half: '0.5' });
    expect(parseNumberValue('100.00', 'n')).toEqual({ exact: '100.00', half: '0.005' });
    expect(parseNumberValue('+0.8', 'n')).toEqual({ exact: '0.8', half: '0.05' });
    expect(parseNumberValue('-3', 'n')).toEqual({ exact: '-3', half: '0.5' });
  });

  test('exponent forms are exact', () => {
    expect(parseNumberValue('8e-1', 'n')).toEqual({ exact: '8e-1', half: '0' });
  });

  test.each(['abc', '', '1,5', '1e999', '0x10', '1.2.3', `1${'0'.repeat(80)}`])('%s is refused, naming the parameter', (value) => {
    expect(() => parseNumberValue(value, 'probability')).toThrow(/probability/);
  });
});
