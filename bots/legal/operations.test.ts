import type { AuditEvent, Communication, DocumentReference, Provenance, Task } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { approvalEntries, checkDecidable, declineEntries, parseApprove } from './approve.ts';
import { caseEventEntries, parseCaseEvent } from './case.ts';
import { chainOf, handoverLink, receiverOf } from './custody.ts';
import { HIPAA_BASIS_SYSTEM, ID, LEGAL_TASK_SYSTEM, PARAM, RESTRICTED } from './fhir.ts';
import { BadRequest, sameParty } from './operations-input.ts';

const NOW = '2025-06-01T12:30:00.000Z';
const liaison = { reference: 'Practitioner/liaison' };
const params = (parameter: object[]) => ({ resourceType: 'Parameters', parameter });

const reportTask: Task & { id: string } = {
  resourceType: 'Task',
  id: 'r1',
  meta: { versionId: 'v1' },
  status: 'requested',
  intent: 'order',
  priority: 'stat',
  code: { coding: [{ system: LEGAL_TASK_SYSTEM, code: 'mandatory-report' }] },
  for: { reference: 'Patient/p' },
  encounter: { reference: 'Encounter/e' },
  focus: { reference: 'DetectedIssue/d' },
  partOf: [{ reference: 'Task/case1' }],
  input: [
    { type: { text: PARAM.action }, valueCode: 'report' },
    { type: { text: PARAM.authority }, valueReference: { reference: 'Organization/police', display: 'Oakland PD' } },
    { type: { text: PARAM.statute }, valueString: 'Cal. Penal Code § 11160(a)(1), (b)' },
    { type: { text: PARAM.hipaa }, valueString: '45 CFR 164.512(f)(1)(i)' },
    { type: { text: PARAM.purpose }, valueCode: 'HLEGAL' },
    { type: { text: PARAM.draft }, valueString: 'MANDATORY REPORT: Firearm injury\nPatient: Luc Moreau' },
  ],
};
const caseTask: Task & { id: string } = {
  resourceType: 'Task',
  id: 'case1',
  meta: { versionId: 'c1' },
  status: 'in-progress',
  intent: 'order',
  code: { coding: [{ system: LEGAL_TASK_SYSTEM, code: 'legal-case' }] },
  for: { reference: 'Patient/p' },
};

describe('$approve-report', () => {
  test('parameters are checked; declining needs a reason', () => {
    expect(
      parseApprove(
        params([
          { name: 'task', valueReference: { reference: 'Task/r1' } },
          { name: 'decision', valueCode: 'approve' },
        ]),
      ),
    ).toMatchObject({
      decision: 'approve',
    });
    expect(() =>
      parseApprove(
        params([
          { name: 'task', valueReference: { reference: 'Task/r1' } },
          { name: 'decision', valueCode: 'decline' },
        ]),
      ),
    ).toThrow(/Declining needs a reason/);
    expect(() =>
      parseApprove(
        params([
          { name: 'task', valueReference: { reference: 'Patient/1' } },
          { name: 'decision', valueCode: 'approve' },
        ]),
      ),
    ).toThrow(/must reference Task/);
    expect(() =>
      parseApprove(
        params([
          { name: 'task', valueReference: { reference: 'Task/r1' } },
          { name: 'decision', valueCode: 'maybe' },
        ]),
      ),
    ).toThrow(/approve, decline/);
    expect(() => parseApprove({ resourceType: 'Patient' })).toThrow(BadRequest);
    expect(() => checkDecidable({ ...reportTask, status: 'completed' })).toThrow(/already decided/);
    expect(() => checkDecidable({ ...reportTask, code: { text: 'other' } })).toThrow(/not a legal report/);
  });

  test('approval: the report to the authority, the disclosure audited with its purpose and HIPAA paragraph, the task and case updated atomically', () => {
    const entries = approvalEntries(
      { task: { reference: 'Task/r1' }, decision: 'approve' },
      { task: reportTask, caseTask, requester: liaison, now: NOW },
    );
    expect(entries.map((e) => `${e.request?.method} ${e.resource?.resourceType}`)).toEqual([
      'POST Communication',
      'POST AuditEvent',
      'POST Provenance',
      'PUT Task',
      'PUT Task',
    ]);
    const communication = entries[0].resource as Communication;
    expect(communication.recipient?.[0].reference).toBe('Organization/police');
    expect(communication.sender?.reference).toBe('Practitioner/liaison');
    expect(communication.payload?.[0].contentString).toMatch(/^MANDATORY REPORT/);
    expect(communication.meta?.security).toContainEqual(RESTRICTED);
    const audit = entries[1].resource as AuditEvent;
    expect(audit.subtype?.[0].code).toBe('disclosure');
    expect(audit.purposeOfEvent?.[0].coding).toEqual([
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HLEGAL', display: 'legal' },
      { system: HIPAA_BASIS_SYSTEM, code: '164.512(f)(1)(i)', display: '45 CFR 164.512(f)(1)(i)' },
    ]);
    expect(audit.agent.map((a) => a.who?.reference)).toEqual(['Practitioner/liaison', 'Organization/police']);
    expect(audit.entity?.map((e) => e.what?.reference)).toEqual(['Patient/p', entries[0].fullUrl, 'DetectedIssue/d']);
    const task = entries[3].resource as Task;
    expect(task.status).toBe('completed');
    expect(entries[3].request?.ifMatch).toBe('W/"v1"');
    expect(task.relevantHistory?.[0].reference).toBe(entries[2].fullUrl);
    expect(task.output?.map((o) => o.type.text)).toEqual([PARAM.decision, PARAM.report, PARAM.disclosure]);
    expect((entries[4].resource as Task).businessStatus?.text).toBe('reported to Oakland PD');
  });

  test('with a reporting desk, a CommunicationRequest for the communication agent; an edited report is what is sent', () => {
    const entries = approvalEntries(
      { task: { reference: 'Task/r1' }, decision: 'approve', report: 'Edited report' },
      { task: reportTask, requester: liaison, now: NOW, desk: { reference: 'PractitionerRole/desk' } },
    );
    const delivery = entries.find((e) => e.resource?.resourceType === 'CommunicationRequest')
      ?.resource as import('@medplum/fhirtypes').CommunicationRequest;
    expect(delivery.recipient?.[0].reference).toBe('PractitionerRole/desk');
    expect(delivery.payload?.[0].contentString).toBe('Edited report');
    expect(delivery.about?.[0].reference).toBe(entries[0].fullUrl);
  });

  test('a documentation task is completed without any disclosure; declining discloses nothing', () => {
    const documentation = {
      ...reportTask,
      input: [{ type: { text: PARAM.action }, valueCode: 'document' }],
      code: { coding: [{ system: LEGAL_TASK_SYSTEM, code: 'legal-documentation' }] },
    };
    const done = approvalEntries(
      { task: { reference: 'Task/r1' }, decision: 'approve' },
      { task: documentation, requester: liaison, now: NOW },
    );
    expect(done.map((e) => e.resource?.resourceType)).toEqual(['Provenance', 'Task']);
    const declined = declineEntries(
      { task: { reference: 'Task/r1' }, decision: 'decline', reason: 'Injury was self-inflicted by accident' },
      { task: reportTask, caseTask, requester: liaison, now: NOW },
    );
    expect(declined.map((e) => e.resource?.resourceType)).toEqual(['Provenance', 'Task', 'Task']);
    expect((declined[1].resource as Task).status).toBe('rejected');
    expect((declined[1].resource as Task).statusReason?.text).toBe('Injury was self-inflicted by accident');
  });
});

describe('$legal-case-event', () => {
  const event = (e: string, value: string, extra: object[] = []) =>
    parseCaseEvent(
      params([
        { name: 'case', valueReference: { reference: 'Task/case1' } },
        { name: 'event', valueCode: e },
        { name: 'value', valueString: value },
        ...extra,
      ]),
    );

  test('a police report number needs its agency, and becomes a case identifier', () => {
    expect(() => event('police-report', '25-001')).toThrow(/agency/);
    const entries = caseEventEntries(
      event('police-report', '25-001', [{ name: 'agency', valueReference: { reference: 'Organization/police' } }]),
      caseTask,
      liaison,
      NOW,
    );
    const updated = entries[1].resource as Task;
    expect(updated.identifier).toEqual([{ system: ID.policeReport, value: '25-001', assigner: { reference: 'Organization/police' } }]);
    expect(updated.relevantHistory?.[0].reference).toBe(entries[0].fullUrl);
    expect((entries[0].resource as Provenance).activity?.text).toBe('Police report number recorded: 25-001');
  });

  test('an action is a completed sub-task; closing completes the case; a closed case takes no more events', () => {
    const action = caseEventEntries(event('action', 'Detective interviewed the patient'), caseTask, liaison, NOW);
    expect(action.map((e) => e.resource?.resourceType)).toEqual(['Provenance', 'Task', 'Task']);
    expect((action[1].resource as Task).partOf?.[0].reference).toBe('Task/case1');
    const close = caseEventEntries(event('close', 'Charges filed'), caseTask, liaison, NOW);
    expect((close[1].resource as Task).status).toBe('completed');
    expect(() => caseEventEntries(event('outcome', 'x'), { ...caseTask, status: 'completed' }, liaison, NOW)).toThrow(/closed/);
    expect(() => caseEventEntries(event('outcome', 'x'), { ...caseTask, code: { text: 'other' } }, liaison, NOW)).toThrow(
      /not a legal case/,
    );
  });
});

describe('$custody-handover', () => {
  const evidence: DocumentReference & { id: string } = {
    resourceType: 'DocumentReference',
    id: 'ev',
    meta: { versionId: '3' },
    status: 'current',
    description: 'Bullet fragment, sealed bag 117',
    content: [{ attachment: { title: 'Bullet fragment' } }],
  };
  const nurse = { reference: 'Practitioner/nurse' };
  const officer = { identifier: { system: 'https://police.example/badge', value: '4411' }, display: 'Officer Diaz' };

  test('collection, then hand-overs only from the holder, each linked to the one before', () => {
    const first = { ...handoverLink({ evidence: { reference: 'DocumentReference/ev' }, to: nurse }, evidence, [], liaison, NOW), id: 'p1' };
    expect(first.activity?.coding?.[0].code).toBe('collection');
    expect(first.target[0].reference).toBe('DocumentReference/ev/_history/3');
    expect(receiverOf(first)).toEqual(nurse);
    expect(() =>
      handoverLink({ evidence: { reference: 'DocumentReference/ev' }, from: liaison, to: officer }, evidence, [first], liaison, NOW),
    ).toThrow(/held by Practitioner\/nurse, not Practitioner\/liaison/);
    const second = {
      ...handoverLink(
        { evidence: { reference: 'DocumentReference/ev' }, from: nurse, to: officer, reason: 'to police' },
        evidence,
        [first],
        liaison,
        NOW,
      ),
      id: 'p2',
    };
    expect(second.entity?.[0].what.reference).toBe('Provenance/p1');
    expect(second.meta?.tag?.[0]).toEqual({ system: ID.custody, code: 'ev:2' });
    expect(chainOf([second, first]).map((p) => p.id)).toEqual(['p1', 'p2']);
    // The officer (known by badge) hands it on: the same party by identifier.
    expect(() =>
      handoverLink(
        { evidence: { reference: 'DocumentReference/ev' }, from: { identifier: officer.identifier }, to: { display: 'Crime lab' } },
        evidence,
        [first, second],
        liaison,
        NOW,
      ),
    ).not.toThrow();
  });

  test('parties are compared by reference, identifier, then display', () => {
    expect(sameParty({ reference: 'Practitioner/1' }, { reference: 'Practitioner/1', display: 'x' })).toBe(true);
    expect(sameParty({ reference: 'Practitioner/1' }, { display: 'Practitioner 1' })).toBe(false);
    expect(sameParty({ display: 'Officer Diaz ' }, { display: 'officer diaz' })).toBe(true);
    expect(sameParty(undefined, { display: 'x' })).toBe(false);
  });
});
