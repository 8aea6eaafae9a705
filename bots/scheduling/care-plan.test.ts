import type { WithId } from '@medplum/core';
import type { CarePlan } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { requestFromActivity, windowFromText } from './care-plan.ts';

const NOW = new Date('2025-03-03T12:00:00Z');
const ORTHO = { coding: [{ system: 'http://snomed.info/sct', code: '394801008', display: 'Trauma and orthopedics' }] };
const plan: WithId<CarePlan> = {
  resourceType: 'CarePlan',
  id: 'cp1',
  status: 'active',
  intent: 'plan',
  subject: { reference: 'Patient/p1' },
};

describe('windowFromText', () => {
  test('"within N hours/days/weeks" from now; anything else is no window', () => {
    expect(windowFromText('within 72 hours', NOW)).toEqual({ start: NOW.toISOString(), end: '2025-03-06T12:00:00.000Z' });
    expect(windowFromText('Fracture clinic in 2 weeks', NOW)?.end).toBe('2025-03-17T12:00:00.000Z');
    expect(windowFromText('within 10 d', NOW)?.end).toBe('2025-03-13T12:00:00.000Z');
    expect(windowFromText('when convenient', NOW)).toBeUndefined();
    expect(windowFromText(undefined, NOW)).toBeUndefined();
  });
});

describe('requestFromActivity', () => {
  test('a detail with a specialty code becomes a ServiceRequest keyed by the plan and activity', () => {
    const sr = requestFromActivity(
      plan,
      2,
      { detail: { status: 'not-started', code: ORTHO, scheduledString: 'within 2 weeks', reasonCode: [{ text: 'wrist fracture' }] } },
      { reference: 'Encounter/e1' },
      NOW,
    );
    expect(sr).toMatchObject({
      identifier: [{ system: 'https://emergisphere.dev/fhir/care-plan-activity', value: 'cp1/2' }],
      status: 'active',
      basedOn: [{ reference: 'CarePlan/cp1' }],
      performerType: ORTHO,
      subject: { reference: 'Patient/p1' },
      encounter: { reference: 'Encounter/e1' },
      occurrencePeriod: { end: '2025-03-17T12:00:00.000Z' },
      reasonCode: [{ text: 'wrist fracture' }],
      code: { text: 'Trauma and orthopedics follow-up' },
    });
  });

  test('an explicit scheduledPeriod wins over the text', () => {
    const period = { start: '2025-03-04T00:00:00Z', end: '2025-03-05T00:00:00Z' };
    const sr = requestFromActivity(
      plan,
      0,
      { detail: { status: 'not-started', code: ORTHO, scheduledPeriod: period, description: 'within 2 weeks' } },
      { reference: 'Encounter/e1' },
      NOW,
    );
    expect(sr?.occurrencePeriod).toEqual(period);
  });

  test('done, cancelled, scheduled, do-not-perform and code-less activities are not booked', () => {
    for (const status of ['completed', 'cancelled', 'scheduled'] as const) {
      expect(requestFromActivity(plan, 0, { detail: { status, code: ORTHO } }, { reference: 'Encounter/e1' }, NOW)).toBeUndefined();
    }
    expect(
      requestFromActivity(
        plan,
        0,
        { detail: { status: 'not-started', code: ORTHO, doNotPerform: true } },
        { reference: 'Encounter/e1' },
        NOW,
      ),
    ).toBeUndefined();
    expect(
      requestFromActivity(plan, 0, { detail: { status: 'not-started', description: 'rest' } }, { reference: 'Encounter/e1' }, NOW),
    ).toBeUndefined();
  });
});
