import type { CommunicationRequest } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { CATEGORY_SYSTEM, DELIVERY_EXT, ESCALATION_LEVEL_EXT } from './codes.ts';
import { type DraftInput, draftCommunication, draftUnreachable, NO_CONSENT } from './communication.ts';
import { deliveriesOf, INTERRUPTED, pendingSends, settle, withDeliveries } from './delivery.ts';

const NOW = new Date('2025-03-01T12:00:00Z');

const page: CommunicationRequest = {
  resourceType: 'CommunicationRequest',
  id: 'r1',
  meta: { versionId: '1' },
  status: 'active',
  priority: 'stat',
  category: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'page' }] }],
  subject: { reference: 'Patient/p' },
  encounter: { reference: 'Encounter/e' },
  about: [{ reference: 'Flag/f' }],
  reasonCode: [{ text: 'SpO2 84%' }],
  payload: [{ contentString: 'Bed 4' }],
  requester: { reference: 'Device/monitor' },
  recipient: [{ reference: 'CareTeam/ed' }],
};

function input(extra: Partial<DraftInput> = {}): DraftInput {
  return {
    request: page,
    target: { reference: 'Practitioner/a', display: 'Dr A', audience: 'staff' },
    level: 0,
    now: NOW,
    attempt: 'run-1',
    configured: { sms: true, email: true },
    addresses: { sms: '+15550101', email: 'a@h.example' },
    consented: true,
    ...extra,
  };
}

describe('draftCommunication', () => {
  test('a staff page: the request’s content, in-app sent, SMS and email sending by this run', () => {
    const c = draftCommunication(input());
    expect(c).toMatchObject({
      resourceType: 'Communication',
      status: 'in-progress',
      basedOn: [{ reference: 'CommunicationRequest/r1' }],
      category: page.category,
      priority: 'stat',
      subject: { reference: 'Patient/p' },
      encounter: { reference: 'Encounter/e' },
      about: [{ reference: 'Flag/f' }],
      reasonCode: [{ text: 'SpO2 84%' }],
      payload: [{ contentString: 'Bed 4' }],
      sender: { reference: 'Device/monitor' },
      recipient: [{ reference: 'Practitioner/a', display: 'Dr A' }],
      sent: NOW.toISOString(),
    });
    expect(c.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)?.valueInteger).toBe(0);
    expect(deliveriesOf(c)).toEqual([
      { channel: 'in-app', status: 'sent' },
      { channel: 'sms', status: 'sending', attempt: 'run-1' },
      { channel: 'email', status: 'sending', attempt: 'run-1' },
    ]);
    expect(c.medium?.map((m) => m.coding?.[0]?.code)).toEqual(['WRITTEN']);
  });

  test('no keys: completed at once, external channels not-configured', () => {
    const c = draftCommunication(input({ configured: { sms: false, email: false } }));
    expect(c.status).toBe('completed');
    expect(deliveriesOf(c).map((d) => [d.channel, d.status])).toEqual([
      ['in-app', 'sent'],
      ['sms', 'not-configured'],
      ['email', 'not-configured'],
    ]);
  });

  test('no contact for a configured channel: failed, saying why', () => {
    const c = draftCommunication(input({ addresses: { email: 'a@h.example' } }));
    expect(deliveriesOf(c)[1]).toEqual({ channel: 'sms', status: 'failed', error: 'no mobile number on file' });
    expect(c.status).toBe('in-progress');
  });

  test('family: the payload, but not the clinical reason or subject matter', () => {
    const c = draftCommunication(input({ target: { reference: 'RelatedPerson/mum', audience: 'family' } }));
    expect(c.payload).toEqual(page.payload);
    expect(c.reasonCode).toBeUndefined();
    expect(c.about).toBeUndefined();
  });

  test('family without consent: not-done, nothing delivered', () => {
    const c = draftCommunication(input({ target: { reference: 'RelatedPerson/mum', audience: 'family' }, consented: false }));
    expect(c.status).toBe('not-done');
    expect(c.statusReason?.text).toBe(NO_CONSENT);
    expect(c.payload).toBeUndefined();
    expect(c.sent).toBeUndefined();
    expect(c.extension?.some((e) => e.url === DELIVERY_EXT)).toBe(false);
  });

  test('an unreachable recipient is recorded not-done with the reason', () => {
    const c = draftUnreachable(page, { reference: 'CareTeam/ed', reason: 'on-call team not found' });
    expect(c).toMatchObject({
      status: 'not-done',
      statusReason: { text: 'on-call team not found' },
      recipient: [{ reference: 'CareTeam/ed' }],
    });
  });
});

describe('delivery records', () => {
  const drafted = draftCommunication(input());

  test('this run sends what it marked; another run’s unfinished sends are interrupted', () => {
    expect(pendingSends(deliveriesOf(drafted), 'run-1')).toEqual({ send: ['sms', 'email'], interrupted: [] });
    expect(pendingSends(deliveriesOf(drafted), 'run-2')).toEqual({ send: [], interrupted: ['sms', 'email'] });
  });

  test('settled: vendor ids and errors recorded, attempt dropped, medium lists what reached the recipient', () => {
    const settled = settle(
      deliveriesOf(drafted),
      { sms: { status: 'sent', vendorId: 'SM1' }, email: { status: 'failed', error: 'sendgrid 500' } },
      [],
    );
    expect(settled).toEqual([
      { channel: 'in-app', status: 'sent' },
      { channel: 'sms', status: 'sent', vendorId: 'SM1' },
      { channel: 'email', status: 'failed', error: 'sendgrid 500' },
    ]);
    const c = withDeliveries(drafted, settled);
    expect(deliveriesOf(c)).toEqual(settled);
    expect(c.extension?.find((e) => e.url === ESCALATION_LEVEL_EXT)).toBeDefined();
    expect(c.medium?.map((m) => m.coding?.[0]?.code)).toEqual(['WRITTEN', 'SMSWRIT']);
    expect(pendingSends(settled, 'run-1')).toEqual({ send: [], interrupted: [] });
  });

  test('interrupted sends become failed and are never sent again', () => {
    const settled = settle(deliveriesOf(drafted), {}, ['sms', 'email']);
    expect(settled.slice(1)).toEqual([
      { channel: 'sms', status: 'failed', error: INTERRUPTED },
      { channel: 'email', status: 'failed', error: INTERRUPTED },
    ]);
  });
});
