import type { CareTeam, Communication, CommunicationRequest } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { CATEGORY_SYSTEM, ESCALATE_AFTER_EXT, ESCALATION_LEVEL_EXT } from './codes.ts';
import { durationMs, escalateAfterMs, nextEscalation } from './escalation.ts';

const T0 = Date.parse('2025-03-01T12:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const ON = { start: '2025-03-01T07:00:00Z', end: '2025-03-01T19:00:00Z' };
const OFF = { start: '2025-03-01T19:00:00Z', end: '2025-03-02T07:00:00Z' };

const team: CareTeam = {
  resourceType: 'CareTeam',
  id: 'ed',
  participant: [
    { member: { reference: 'Practitioner/a' }, period: ON },
    { member: { reference: 'Practitioner/off' }, period: OFF },
    { member: { reference: 'Practitioner/b' }, period: ON },
    { member: { reference: 'Practitioner/c' }, period: ON },
  ],
};

const stat: CommunicationRequest = {
  resourceType: 'CommunicationRequest',
  id: 'r',
  status: 'active',
  priority: 'stat',
  category: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'page' }] }],
  recipient: [{ reference: 'CareTeam/ed' }],
};

function page(level: number, to: string[], minute: number): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    basedOn: [{ reference: 'CommunicationRequest/r' }],
    recipient: to.map((reference) => ({ reference })),
    sent: at(minute).toISOString(),
    extension: [{ url: ESCALATION_LEVEL_EXT, valueInteger: level }],
  };
}

const refs = (step: ReturnType<typeof nextEscalation>) =>
  step.kind === 'page' ? [step.level, step.targets.map((t) => t.reference)] : step;

describe('the escalation interval', () => {
  test('UCUM durations in ms, s, min, h; anything else is not a duration', () => {
    expect(durationMs({ value: 90, code: 's' })).toBe(90_000);
    expect(durationMs({ value: 2, unit: 'min' })).toBe(120_000);
    expect(durationMs({ value: 1, code: 'h' })).toBe(3_600_000);
    expect(durationMs({ value: 1, code: 'wk' })).toBeUndefined();
    expect(durationMs({ code: 's' })).toBeUndefined();
    expect(durationMs({ value: -1, code: 's' })).toBeUndefined();
  });

  test('from the request’s escalate-after extension, else 5 minutes', () => {
    expect(escalateAfterMs(stat)).toBe(300_000);
    expect(escalateAfterMs({ ...stat, extension: [{ url: ESCALATE_AFTER_EXT, valueDuration: { value: 2, code: 'min' } }] })).toBe(120_000);
  });
});

describe('nextEscalation', () => {
  test('waits out the interval after the last page', () => {
    expect(nextEscalation({ request: stat, team, pages: [page(0, ['Practitioner/a'], 0)], now: at(4) })).toEqual({
      kind: 'wait',
      until: at(5),
    });
  });

  test('unacknowledged: the next one on shift, then everyone else on shift, then done', () => {
    const first = [page(0, ['Practitioner/a'], 0)];
    expect(refs(nextEscalation({ request: stat, team, pages: first, now: at(5) }))).toEqual([1, ['Practitioner/b']]);
    const second = [...first, page(1, ['Practitioner/b'], 5)];
    expect(nextEscalation({ request: stat, team, pages: second, now: at(9) })).toEqual({ kind: 'wait', until: at(10) });
    expect(refs(nextEscalation({ request: stat, team, pages: second, now: at(10) }))).toEqual([2, ['Practitioner/c']]);
    const third = [...second, page(2, ['Practitioner/c'], 10)];
    expect(nextEscalation({ request: stat, team, pages: third, now: at(15) })).toEqual({ kind: 'done', reason: 'exhausted' });
  });

  test('nobody else on shift: the whole list', () => {
    const small: CareTeam = { ...team, participant: team.participant?.slice(0, 2) };
    expect(refs(nextEscalation({ request: stat, team: small, pages: [page(0, ['Practitioner/a'], 0)], now: at(5) }))).toEqual([
      2,
      ['Practitioner/off'],
    ]);
  });

  test('everyone paged: done', () => {
    const one: CareTeam = { ...team, participant: team.participant?.slice(0, 1) };
    expect(nextEscalation({ request: stat, team: one, pages: [page(0, ['Practitioner/a'], 0)], now: at(5) })).toEqual({
      kind: 'done',
      reason: 'exhausted',
    });
  });

  test('the first page never went out: send it once the delivery has had an interval', () => {
    const written = { ...stat, authoredOn: at(0).toISOString() };
    expect(nextEscalation({ request: written, team, pages: [], now: at(1) })).toEqual({ kind: 'wait', until: at(5) });
    expect(refs(nextEscalation({ request: written, team, pages: [], now: at(5) }))).toEqual([0, ['Practitioner/a']]);
  });

  test('acknowledged (request completed), not stat, not a page, or no team: nothing to do', () => {
    const pages = [page(0, ['Practitioner/a'], 0)];
    expect(nextEscalation({ request: { ...stat, status: 'completed' }, team, pages, now: at(60) })).toEqual({
      kind: 'done',
      reason: 'closed',
    });
    expect(nextEscalation({ request: { ...stat, priority: 'urgent' }, team, pages, now: at(60) })).toEqual({
      kind: 'done',
      reason: 'not-escalating',
    });
    const notice = { ...stat, category: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'staff-notice' }] }] };
    expect(nextEscalation({ request: notice, team, pages, now: at(60) })).toEqual({ kind: 'done', reason: 'not-escalating' });
    expect(nextEscalation({ request: stat, team: undefined, pages, now: at(60) })).toEqual({ kind: 'done', reason: 'not-escalating' });
  });
});
