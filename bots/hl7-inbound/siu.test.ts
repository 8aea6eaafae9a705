import type { Appointment } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { appointmentStatus, planSiu } from './siu.ts';

const appointment = (text: string) =>
  planSiu(Message.parse(text)).upserts.find((u) => u.resourceType === 'Appointment')?.resource as Appointment;

describe('SIU → Appointment (IG SCH/AIS/AIP/AIL[Appointment])', () => {
  test('S12: booked, timing, participants, type, service, keyed by the filler id', () => {
    const plan = planSiu(Message.parse(corpus.siuS12));
    const upsert = plan.upserts.find((u) => u.resourceType === 'Appointment');
    expect(upsert?.identifier).toMatchObject({ value: 'APT100', type: { coding: [{ code: 'FILL' }] } });
    const a = upsert?.resource as Appointment;
    expect(a).toMatchObject({
      status: 'booked',
      start: '2026-01-12T09:30:00-05:00',
      end: '2026-01-12T10:00:00-05:00',
      minutesDuration: 30,
      appointmentType: { coding: [{ code: 'ROUTINE', system: 'http://terminology.hl7.org/CodeSystem/v2-0276' }] },
      serviceType: [{ coding: [{ code: 'CARDIO' }] }],
      reasonCode: [{ coding: [{ code: 'FOLLOWUP' }] }],
    });
    expect(a.participant.map((p) => p.actor?.display ?? p.actor?.reference?.split('|')[0])).toEqual([
      'local:Patient',
      'John Carter',
      'CLINIC ROOM3',
    ]);
    expect(plan.upserts.find((u) => u.resourceType === 'Patient')?.mode).toBe('create-only');
  });
  test('S13 reschedules, S14 modifies, S15 cancels with a reason, S26 is a no-show', () => {
    expect(appointment(corpus.siuS13)).toMatchObject({ status: 'booked', start: '2026-01-13T14:00:00-05:00' });
    expect(appointment(corpus.siuS14)).toMatchObject({ minutesDuration: 45, end: '2026-01-13T14:45:00-05:00' });
    expect(appointment(corpus.siuS15)).toMatchObject({ status: 'cancelled', cancelationReason: { coding: [{ code: 'PATCANC' }] } });
    expect(appointment(corpus.siuS26).status).toBe('noshow');
  });
  test('SCH-25 filler status (IG FillerStatusCodes) when the event does not decide', () => {
    expect(appointmentStatus('S14', 'Started')).toBe('checked-in');
    expect(appointmentStatus('S14', 'Complete')).toBe('fulfilled');
    expect(appointmentStatus('S12', '')).toBe('booked');
    expect(appointmentStatus('S15', 'Booked')).toBe('cancelled');
  });
  test('AIS start + duration when SCH-11 has no end', () => {
    const text = corpus.siuS12.replace('^^30^20260112093000-0500^20260112100000-0500', '');
    expect(appointment(text)).toMatchObject({ start: '2026-01-12T09:30:00-05:00', end: '2026-01-12T10:00:00-05:00' });
  });
  test('no appointment id: AE naming SCH-2', () => {
    expect(() => planSiu(Message.parse(corpus.siuS12.replace('SCH|APT100^CADENCE|APT100^CADENCE|', 'SCH|||')))).toThrow(/SCH-2/);
  });
});
