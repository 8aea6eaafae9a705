import { describe, expect, test } from 'vitest';
import { parseStatus, waitText } from './family-status.ts';

describe('family status', () => {
  test('reads the operation parameters', () => {
    expect(
      parseStatus({
        resourceType: 'Parameters',
        parameter: [
          { name: 'phase', valueCode: 'arrived' },
          { name: 'label', valueString: 'Arrived — waiting to be seen' },
          { name: 'expectedWaitMinutes', valueInteger: 40 },
          { name: 'patientsAhead', valueInteger: 2 },
          { name: 'patientName', valueString: 'Ana Rivera' },
        ],
      }),
    ).toEqual({
      phase: 'arrived',
      label: 'Arrived — waiting to be seen',
      expectedWaitMinutes: 40,
      patientsAhead: 2,
      patientName: 'Ana Rivera',
      asOf: undefined,
    });
  });

  test('words the wait as an estimate', () => {
    expect(waitText(undefined)).toBe('We cannot estimate the wait yet.');
    expect(waitText(0)).toBe('Should be seen very soon.');
    expect(waitText(35)).toBe('About 35 minutes');
    expect(waitText(90)).toBe('About 1 h 30 min');
    expect(waitText(120)).toBe('About 2 h');
  });
});
