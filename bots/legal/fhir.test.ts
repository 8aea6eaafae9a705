import type { Encounter, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { evaluate } from './evaluate.ts';
import { caseFacts } from './facts.ts';
import { type FindingContext, findingTransaction, ID, LEGAL_FINDING_SYSTEM, PARAM, param, RESTRICTED } from './fhir.ts';
import { resolveRuleSet } from './rules.ts';

const NOW = '2025-06-01T12:00:00.000Z';
const patient: Patient & { id: string } = {
  resourceType: 'Patient',
  id: 'p',
  name: [{ given: ['Luc'], family: 'Moreau' }],
  birthDate: '1990-02-03',
  address: [{ line: ['1 Main St'], city: 'Oakland', state: 'CA' }],
};
const encounter: Encounter & { id: string } = {
  resourceType: 'Encounter',
  id: 'e',
  status: 'arrived',
  class: { code: 'EMER' },
  subject: { reference: 'Patient/p' },
  period: { start: '2025-06-01T11:50:00Z' },
  reasonCode: [{ text: 'GSW left thigh' }],
};

function gunshot() {
  const facts = caseFacts({ patient, encounter, conditions: [], observations: [], at: NOW });
  return evaluate(resolveRuleSet('US-CA'), facts).findings[0];
}

describe('a finding as FHIR', () => {
  const ctx: FindingContext = {
    patient,
    encounter,
    now: NOW,
    authority: { reference: 'Organization/police', display: 'Oakland Police Department' },
    liaisonTeam: { reference: 'CareTeam/legal', display: 'Legal liaison on call' },
    facility: 'General Hospital',
  };
  const { entries, slots } = findingTransaction(gunshot(), ctx);
  const resource = (i: number | undefined) =>
    entries[i as number].resource as never as Record<string, unknown> & { meta?: { security?: unknown[] } };

  test('five conditional creates, all restricted, keyed on the encounter and the finding', () => {
    expect(entries).toHaveLength(5);
    expect(slots).toEqual({ issue: 0, flag: 1, case: 2, report: 3, page: 4 });
    for (const e of entries) {
      expect(e.request?.method).toBe('POST');
      expect(e.request?.ifNoneExist).toBeTruthy();
      expect(e.resource?.meta?.security).toContainEqual(RESTRICTED);
    }
    expect(entries[0].request?.ifNoneExist).toBe(`identifier=${encodeURIComponent(`${ID.finding}|e:gunshot-wound`)}`);
    expect(entries[2].request?.ifNoneExist).toBe(`identifier=${encodeURIComponent(`${ID.case}|e:crime`)}`);
  });

  test('the DetectedIssue names the finding, the rule, the evidence and the legal basis', () => {
    const issue = resource(slots.issue) as {
      code: { coding: { system: string; code: string }[] };
      detail: string;
      reference: string;
      severity: string;
    };
    expect(issue.code.coding[0]).toMatchObject({ system: LEGAL_FINDING_SYSTEM, code: 'gunshot-wound' });
    expect(issue.severity).toBe('high');
    expect(issue.detail).toMatch(/rule US-CA\/ca-firearm-injury/);
    expect(issue.detail).toMatch(/keyword "gunshot" in "GSW left thigh"/);
    expect(issue.detail).toMatch(/Cal\. Penal Code § 11160\(a\)\(1\), \(b\)\. HIPAA: 45 CFR 164\.512\(f\)\(1\)\(i\)/);
    expect(issue.reference).toBe('https://emergisphere.dev/fhir/legal-rule/US-CA/ca-firearm-injury');
  });

  test('the report Task: due in an hour, for the liaison, with the authority and a draft report', () => {
    const task = entries[slots.report].resource as import('@medplum/fhirtypes').Task;
    expect(task.status).toBe('requested');
    expect(task.priority).toBe('stat');
    expect(task.restriction?.period?.end).toBe('2025-06-01T13:00:00.000Z');
    expect(task.owner?.reference).toBe('CareTeam/legal');
    expect(task.partOf?.[0].reference).toBe(entries[slots.case as number].fullUrl);
    expect(task.focus?.reference).toBe(entries[slots.issue].fullUrl);
    expect(param(task.input, PARAM.authority)?.valueReference?.reference).toBe('Organization/police');
    expect(param(task.input, PARAM.hipaa)?.valueString).toBe('45 CFR 164.512(f)(1)(i)');
    const draft = param(task.input, PARAM.draft)?.valueString ?? '';
    expect(draft).toMatch(/^MANDATORY REPORT: Firearm injury/);
    expect(draft).toMatch(/Patient: Luc Moreau, born 1990-02-03, 1 Main St, Oakland, CA/);
    expect(draft).toMatch(/To: Oakland Police Department/);
  });

  test('the flag points at the finding; the page goes to the liaison team, stat', () => {
    const flag = entries[slots.flag].resource as import('@medplum/fhirtypes').Flag;
    expect(flag.extension?.[0].valueReference?.reference).toBe(entries[slots.issue].fullUrl);
    expect(flag.code.text).toMatch(/^Restricted: Firearm injury/);
    const page = entries[slots.page as number].resource as import('@medplum/fhirtypes').CommunicationRequest;
    expect(page.category?.[0].coding?.[0].code).toBe('page');
    expect(page.priority).toBe('stat');
    expect(page.recipient?.[0].reference).toBe('CareTeam/legal');
  });

  test('without a liaison team or case type: fewer entries', () => {
    const bite = evaluate(
      resolveRuleSet('US-CA'),
      caseFacts({
        patient,
        encounter: { ...encounter, reasonCode: [{ text: 'tuberculosis' }] },
        conditions: [
          {
            resourceType: 'Condition',
            id: 'c',
            subject: { reference: 'Patient/p' },
            code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'A15.0' }] },
          },
        ],
        observations: [],
        at: NOW,
      }),
    ).findings[0];
    const { entries: few, slots: s } = findingTransaction(bite, { ...ctx, liaisonTeam: undefined });
    expect(few.map((e) => e.resource?.resourceType)).toEqual(['DetectedIssue', 'Flag', 'Task']);
    expect(s.case).toBeUndefined();
  });
});
