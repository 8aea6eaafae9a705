import type { CareTeam, CommunicationRequest, Consent, ConsentProvision, Practitioner, PractitionerRole } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { CATEGORY_SYSTEM, CONSENT_PURPOSE_SYSTEM } from './codes.ts';
import { addressesOf, familyConsent, resolveRecipients, teamMembers, teamTargets } from './recipients.ts';

const NOW = new Date('2025-03-01T12:00:00Z');
const DAY = { start: '2025-03-01T07:00:00Z', end: '2025-03-01T19:00:00Z' };
const NIGHT = { start: '2025-03-01T19:00:00Z', end: '2025-03-02T07:00:00Z' };

const team: CareTeam = {
  resourceType: 'CareTeam',
  id: 'ed',
  participant: [
    { member: { reference: 'Practitioner/night' }, period: NIGHT },
    { member: { reference: 'Practitioner/a', display: 'Dr A' }, period: DAY },
    { member: { reference: 'Organization/x' } },
    { member: { reference: 'PractitionerRole/b' }, period: DAY },
    { member: { reference: 'Practitioner/c' } },
  ],
};

function request(category: string, recipients: string[]): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    id: 'r1',
    status: 'active',
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: category }] }],
    recipient: recipients.map((reference) => ({ reference })),
  };
}

describe('on-call teams', () => {
  test('members in list order, people only, marked on or off shift (no period = always)', () => {
    expect(teamMembers(team, NOW).map((m) => [m.reference, m.onShift])).toEqual([
      ['Practitioner/night', false],
      ['Practitioner/a', true],
      ['PractitionerRole/b', true],
      ['Practitioner/c', true],
    ]);
  });

  test('a page goes to the first on shift; a notice to everyone on shift', () => {
    expect(teamTargets(team, true, NOW)).toEqual([{ reference: 'Practitioner/a', display: 'Dr A', audience: 'staff' }]);
    expect(teamTargets(team, false, NOW).map((t) => t.reference)).toEqual(['Practitioner/a', 'PractitionerRole/b', 'Practitioner/c']);
  });

  test('the end of a shift is exclusive', () => {
    expect(teamTargets(team, true, new Date(DAY.end))[0].reference).toBe('Practitioner/night');
  });

  test('in a rota gap the whole list gets it', () => {
    const gap: CareTeam = { resourceType: 'CareTeam', participant: [{ member: { reference: 'Practitioner/n' }, period: NIGHT }] };
    expect(teamTargets(gap, true, NOW).map((t) => t.reference)).toEqual(['Practitioner/n']);
  });
});

describe('resolveRecipients', () => {
  test('teams through their lists, people directly, each once; the unreachable are reported', () => {
    const teams = new Map([['CareTeam/ed', team]]);
    const { targets, unreachable } = resolveRecipients(
      request('page', ['CareTeam/ed', 'Practitioner/a', 'RelatedPerson/mum', 'Patient/p', 'Organization/o', 'CareTeam/gone']),
      teams,
      NOW,
    );
    expect(targets).toEqual([
      { reference: 'Practitioner/a', display: 'Dr A', audience: 'staff' },
      { reference: 'RelatedPerson/mum', audience: 'family' },
      { reference: 'Patient/p', audience: 'patient' },
    ]);
    expect(unreachable).toEqual([
      { reference: 'Organization/o', reason: 'cannot notify a Organization' },
      { reference: 'CareTeam/gone', reason: 'on-call team not found' },
    ]);
  });

  test('an empty list is unreachable, not silently dropped', () => {
    const empty = new Map([['CareTeam/e', { resourceType: 'CareTeam', participant: [] } as CareTeam]]);
    expect(resolveRecipients(request('page', ['CareTeam/e']), empty, NOW).unreachable).toEqual([
      { reference: 'CareTeam/e', reason: 'the on-call list has no one to notify' },
    ]);
  });
});

describe('addressesOf', () => {
  test('an sms contact or a mobile phone, and an email; best rank; no ended or old ones', () => {
    const p: Practitioner = {
      resourceType: 'Practitioner',
      telecom: [
        { system: 'phone', use: 'work', value: '+1 555 0100' },
        { system: 'phone', use: 'mobile', value: '+15550102', rank: 2 },
        { system: 'sms', value: '+15550101', rank: 1 },
        { system: 'email', value: 'old@h.example', period: { end: '2024-01-01T00:00:00Z' } },
        { system: 'email', value: 'former@h.example', use: 'old' },
        { system: 'email', value: 'a@h.example' },
      ],
    };
    expect(addressesOf(p, undefined, NOW)).toEqual({ sms: '+15550101', email: 'a@h.example' });
  });

  test('a work phone is not texted', () => {
    expect(addressesOf({ resourceType: 'Practitioner', telecom: [{ system: 'phone', use: 'work', value: '+1' }] }, undefined, NOW)).toEqual(
      {},
    );
  });

  test('a PractitionerRole falls back to its Practitioner for what it lacks', () => {
    const role: PractitionerRole = { resourceType: 'PractitionerRole', telecom: [{ system: 'email', value: 'ed-pager@h.example' }] };
    const person: Practitioner = {
      resourceType: 'Practitioner',
      telecom: [
        { system: 'sms', value: '+15550199' },
        { system: 'email', value: 'me@h.example' },
      ],
    };
    expect(addressesOf(role, person, NOW)).toEqual({ sms: '+15550199', email: 'ed-pager@h.example' });
  });
});

describe('familyConsent', () => {
  const PATIENT = 'Patient/p';
  const MUM = 'RelatedPerson/mum';
  const purpose = [{ system: CONSENT_PURPOSE_SYSTEM, code: 'family-updates' }];
  const consent = (provision: ConsentProvision, extra: Partial<Consent> = {}): Consent => ({
    resourceType: 'Consent',
    status: 'active',
    scope: { text: 'patient-privacy' },
    category: [{ text: 'family' }],
    patient: { reference: PATIENT },
    provision,
    ...extra,
  });
  const permitMum: ConsentProvision = { type: 'permit', actor: [{ role: { text: 'family' }, reference: { reference: MUM } }], purpose };

  test('an active permit naming the family member for family updates', () => {
    expect(familyConsent([consent(permitMum)], MUM, PATIENT, NOW)).toBe(true);
  });

  test('no consent, another person, another purpose, another patient, inactive or expired: no', () => {
    expect(familyConsent([], MUM, PATIENT, NOW)).toBe(false);
    expect(familyConsent([consent(permitMum)], 'RelatedPerson/dad', PATIENT, NOW)).toBe(false);
    expect(
      familyConsent([consent({ ...permitMum, purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: 'research' }] })], MUM, PATIENT, NOW),
    ).toBe(false);
    expect(familyConsent([consent(permitMum)], MUM, 'Patient/other', NOW)).toBe(false);
    expect(familyConsent([consent(permitMum)], MUM, undefined, NOW)).toBe(false);
    expect(familyConsent([consent(permitMum, { status: 'inactive' })], MUM, PATIENT, NOW)).toBe(false);
    expect(familyConsent([consent({ ...permitMum, period: { end: '2025-02-01T00:00:00Z' } })], MUM, PATIENT, NOW)).toBe(false);
  });

  test('a permit that does not name the family member and purpose does not count', () => {
    expect(familyConsent([consent({ type: 'permit' })], MUM, PATIENT, NOW)).toBe(false);
  });

  test('deny all with an exception for the family member permits', () => {
    expect(familyConsent([consent({ type: 'deny', provision: [permitMum] })], MUM, PATIENT, NOW)).toBe(true);
  });

  test('a deny wins: nested in the permit, or in another consent', () => {
    expect(familyConsent([consent({ ...permitMum, provision: [{ type: 'deny', actor: permitMum.actor }] })], MUM, PATIENT, NOW)).toBe(
      false,
    );
    expect(familyConsent([consent(permitMum), consent({ type: 'deny', purpose })], MUM, PATIENT, NOW)).toBe(false);
  });
});
