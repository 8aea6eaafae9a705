import type { CommunicationRequest } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { CATEGORY_SYSTEM } from './codes.ts';
import { composeMessage, SMS_MAX } from './message.ts';

function request(category: string, extra: Partial<CommunicationRequest> = {}): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: category }] }],
    subject: { reference: 'Patient/p', display: 'Jane Roe' },
    reasonCode: [{ text: 'SpO2 84% (NEWS2 9)' }],
    payload: [{ contentString: 'Bed 4, sepsis screen positive.' }],
    ...extra,
  };
}

describe('staff', () => {
  test('a stat page: priority, reason, detail, what to do; no patient name', () => {
    const m = composeMessage({ request: request('page', { priority: 'stat' }), audience: 'staff', level: 0 });
    expect(m.sms).toBe('[STAT] ED page: SpO2 84% (NEWS2 9). Bed 4, sepsis screen positive. Acknowledge in EmergiSphere.');
    expect(m.subject).toBe('[STAT] ED page: SpO2 84% (NEWS2 9)');
    expect(m.text).toContain('Bed 4, sepsis screen positive.');
    expect(`${m.sms} ${m.subject} ${m.text}`).not.toContain('Jane');
  });

  test('an escalated page says so', () => {
    const m = composeMessage({ request: request('page', { priority: 'stat' }), audience: 'staff', level: 1 });
    expect(m.sms.startsWith('[STAT] [ESCALATED] ED page')).toBe(true);
    expect(m.text).toContain('first page was not acknowledged');
  });

  test('a notice without a reason code uses the category; coded reasons use their display', () => {
    expect(composeMessage({ request: request('staff-notice', { reasonCode: undefined }), audience: 'staff', level: 0 }).subject).toBe(
      'ED notice',
    );
    const coded = request('staff-notice', { reasonCode: [{ coding: [{ code: '91302008', display: 'Sepsis' }] }] });
    expect(composeMessage({ request: coded, audience: 'staff', level: 0 }).subject).toBe('ED notice: Sepsis');
  });

  test('an SMS is at most two segments', () => {
    const long = request('page', { payload: [{ contentString: 'x '.repeat(400) }] });
    const sms = composeMessage({ request: long, audience: 'staff', level: 0 }).sms;
    expect(sms.length).toBeGreaterThan(SMS_MAX - 5);
    expect(sms.length).toBeLessThanOrEqual(SMS_MAX);
    expect(sms.endsWith('...')).toBe(true);
  });

  test('SMS texts stay in the GSM 7-bit alphabet (ASCII here), so segments stay 153 characters', () => {
    const r = request('page', { priority: 'stat', payload: [{ contentString: `SpO₂ 84% – 38.5°C, “febrile”… ${'x '.repeat(400)}` }] });
    expect(composeMessage({ request: r, audience: 'staff', level: 0 }).sms).toContain('SpO2 84% - 38.5 deg C, "febrile"... x x');
    for (const audience of ['staff', 'family', 'patient'] as const) {
      expect(composeMessage({ request: r, audience, level: 1 }).sms).toMatch(/^[\x20-\x7e]*$/);
    }
  });
});

describe('family and patient', () => {
  test('family get that there is an update, with the given name, and no clinical detail', () => {
    const m = composeMessage({ request: request('family-update'), audience: 'family', level: 0, patientGivenName: 'Jane' });
    expect(m.sms).toContain('there is an update about Jane');
    for (const text of [m.sms, m.subject, m.text]) {
      expect(text).not.toMatch(/SpO2|sepsis|Bed 4|Roe/i);
    }
    expect(composeMessage({ request: request('family-update'), audience: 'family', level: 0 }).sms).toContain('your family member');
  });

  test('whatever the category, family texts stay generic', () => {
    const m = composeMessage({ request: request('page', { priority: 'stat' }), audience: 'family', level: 0 });
    expect(m.sms).not.toMatch(/SpO2|sepsis|STAT/);
  });

  test('the patient gets their appointment details, but other categories only a pointer', () => {
    const appt = request('appointment', {
      reasonCode: undefined,
      payload: [{ contentString: 'Cardiology follow-up on 12 March, 10:00.' }],
    });
    const m = composeMessage({ request: appt, audience: 'patient', level: 0 });
    expect(m.subject).toBe('Your appointment');
    expect(m.sms).toContain('Cardiology follow-up on 12 March, 10:00.');
    expect(composeMessage({ request: request('staff-notice'), audience: 'patient', level: 0 }).sms).not.toMatch(/SpO2|sepsis/);
  });
});
