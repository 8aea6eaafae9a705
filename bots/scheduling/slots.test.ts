import { describe, expect, test } from 'vitest';
import { generateSlots, recurringBlocks, type SlotPlan, zonedInstant } from './slots.ts';

const base: SlotPlan = {
  schedule: { reference: 'Schedule/1' },
  scheduleKey: 'dr-lee-schedule',
  availableTime: [
    { daysOfWeek: ['mon', 'wed'], availableStartTime: '08:00:00', availableEndTime: '12:00:00' },
    { daysOfWeek: ['mon', 'wed'], availableStartTime: '13:00:00', availableEndTime: '17:00:00' },
  ],
  blocked: [],
  notAvailable: [],
  slotMinutes: 30,
  timeZone: 'America/Los_Angeles',
  // Monday 2025-03-03 to Sunday 2025-03-09 (DST starts on the 9th)
  from: '2025-03-03',
  to: '2025-03-09',
};

describe('local time', () => {
  test('a wall-clock time in a zone, on both sides of a DST change', () => {
    expect(zonedInstant('2025-03-03', '08:00', 'America/Los_Angeles').toISOString()).toBe('2025-03-03T16:00:00.000Z');
    expect(zonedInstant('2025-03-10', '08:00', 'America/Los_Angeles').toISOString()).toBe('2025-03-10T15:00:00.000Z');
    expect(zonedInstant('2025-07-01', '08:00:00', 'UTC').toISOString()).toBe('2025-07-01T08:00:00.000Z');
  });
});

describe('generateSlots', () => {
  test('working hours on working days only, the lunch break left out', () => {
    const slots = generateSlots(base);
    // two working days × (8 morning + 8 afternoon) half hours
    expect(slots).toHaveLength(32);
    const monday = slots.filter((s) => s.start?.startsWith('2025-03-03'));
    expect(monday[0]).toMatchObject({ start: '2025-03-03T16:00:00.000Z', end: '2025-03-03T16:30:00.000Z', status: 'free' });
    expect(monday.map((s) => s.start)).not.toContain('2025-03-03T20:00:00.000Z'); // 12:00 local: lunch
    expect(monday.map((s) => s.start)).toContain('2025-03-03T21:00:00.000Z'); // 13:00 local
    expect(slots[0].identifier?.[0].value).toBe('dr-lee-schedule@2025-03-03T16:00:00.000Z');
  });

  test('recurring blocks and dated absences remove the slots they overlap', () => {
    const blocked = recurringBlocks([
      {
        url: 'https://emergisphere.dev/fhir/StructureDefinition/blocked-time',
        extension: [
          { url: 'day', valueCode: 'wed' },
          { url: 'start', valueTime: '15:00:00' },
          { url: 'end', valueTime: '17:00:00' },
          { url: 'reason', valueString: 'Cath lab' },
        ],
      },
    ]);
    expect(blocked).toEqual([{ days: ['wed'], start: '15:00:00', end: '17:00:00', reason: 'Cath lab' }]);
    const slots = generateSlots({
      ...base,
      blocked,
      notAvailable: [{ start: '2025-03-03T16:00:00Z', end: '2025-03-03T17:10:00Z' }],
    });
    // Monday loses 08:00, 08:30 and 09:00 (overlapping until 09:10); Wednesday loses four afternoon slots.
    expect(slots).toHaveLength(32 - 3 - 4);
    expect(slots.some((s) => s.start === '2025-03-05T23:00:00.000Z')).toBe(false); // Wed 15:00 local
  });

  test('a bad slot length is refused', () => {
    expect(() => generateSlots({ ...base, slotMinutes: 0 })).toThrow(/positive/);
  });
});
