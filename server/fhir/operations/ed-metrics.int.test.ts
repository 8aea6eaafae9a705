import { MedplumClient, type WithId } from '@medplum/core';
import type { Device, Encounter, Location, MeasureReport, Observation, Parameters, Patient, Project, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch } from '../../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { createUser } from '../../auth/admin.ts';
import type { AllMetrics } from '../analytics/reports.ts';

const ES = 'https://emergisphere.dev/fhir';
const DAY = '2026-03-02';
const at = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;

let t: TestServer;
let area: WithId<Location>;

async function metrics(client: MedplumClient, query: string): Promise<{ metrics: AllMetrics; reports: MeasureReport[] }> {
  const params = (await client.get(`${client.fhirUrl('Measure', '$ed-metrics')}?${query}`, { cache: 'no-cache' })) as Parameters;
  const text = params.parameter?.find((p) => p.name === 'metrics')?.valueString as string;
  const reports = (params.parameter ?? []).filter((p) => p.name === 'report').map((p) => p.resource as MeasureReport);
  return { metrics: JSON.parse(text) as AllMetrics, reports };
}

beforeAll(async () => {
  t = await startTestServer();
  const m = t.medplum;
  area = await m.createResource<Location>({ resourceType: 'Location', name: 'ED', physicalType: { coding: [{ code: 'wa' }] } });
  const bed = (zone: string) =>
    m.createResource<Location>({
      resourceType: 'Location',
      name: `bed ${zone}`,
      physicalType: { coding: [{ code: 'bd' }] },
      partOf: { reference: `Location/${area.id}` },
      type: [{ coding: [{ system: `${ES}/CodeSystem/bed-zone`, code: zone }] }],
    });
  const resus = await bed('resus');
  const fast = await bed('fast-track');
  const ana = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Rivera' }] });
  const bo = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Okafor' }] });
  const device = await m.createResource<Device>({ resourceType: 'Device', serialNumber: 'W-1' });

  const visit = (patient: Patient, start: string, extra: Partial<Encounter>) =>
    m.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      subject: { reference: `Patient/${patient.id}` },
      period: { start },
      ...extra,
    });
  const esi = (level: number) => ({ coding: [{ system: `${ES}/CodeSystem/esi`, code: String(level) }] });
  // Ana: ESI 2 in resus, triaged after 5 min, seen after 20, admitted at 10:00, left the ED at 12:00.
  const a1 = await visit(ana, at('08:00'), {
    period: { start: at('08:00'), end: at('12:00') },
    priority: esi(2),
    location: [{ location: { reference: `Location/${resus.id}` } }],
    participant: [{ period: { start: at('08:20') }, individual: { display: 'Dr A' } }],
  });
  await m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { code: 'IMP' },
    subject: { reference: `Patient/${ana.id}` },
    partOf: { reference: `Encounter/${a1.id}` },
    period: { start: at('10:00') },
  });
  // Bo: ESI 4 in fast track, triaged after 15 min (automated 4, overridden to 3), discharged after 2 h.
  const b1 = await visit(bo, at('09:00'), {
    period: { start: at('09:00'), end: at('11:00') },
    priority: esi(3),
    location: [{ location: { reference: `Location/${fast.id}` } }],
    participant: [{ period: { start: at('09:45') }, individual: { display: 'Dr B' } }],
  });
  // Bo returns 30 h later and leaves without being seen.
  await visit(bo, at('17:00', '2026-03-03'), {
    status: 'cancelled',
    period: { start: at('17:00', '2026-03-03'), end: at('18:00', '2026-03-03') },
    hospitalization: { dischargeDisposition: { coding: [{ code: 'oth' }], text: 'left without being seen' } },
  });
  const obs = (enc: Encounter, time: string, level: number, method: string) =>
    m.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
      subject: enc.subject,
      encounter: { reference: `Encounter/${enc.id}` },
      effectiveDateTime: time,
      valueCodeableConcept: esi(level),
      method: { coding: [{ system: `${ES}/CodeSystem/observation-method`, code: method }] },
    });
  await obs(a1, at('08:05'), 2, 'rules');
  await obs(b1, at('09:15'), 4, 'rules');
  await obs(b1, at('09:30'), 3, 'clinician-override');
  const task = (enc: Encounter, step: string, status: Task['status'], start?: string, end?: string) =>
    m.createResource<Task>({
      resourceType: 'Task',
      status,
      intent: 'order',
      code: { coding: [{ system: `${ES}/CodeSystem/workflow-step`, code: step }] },
      encounter: { reference: `Encounter/${enc.id}` },
      focus: { reference: `Encounter/${enc.id}` },
      authoredOn: enc.period?.start,
      ...(start ? { executionPeriod: { start, ...(end ? { end } : {}) } } : {}),
    });
  await task(a1, 'triage', 'completed', '2026-03-02T08:00:01.000Z', '2026-03-02T08:00:04.000Z');
  await task(b1, 'triage', 'completed', '2026-03-02T09:00:01.000Z', '2026-03-02T09:00:07.000Z');
  await task(a1, 'billing', 'failed', '2026-03-02T08:01:00.000Z');
  await task(b1, 'billing', 'cancelled');
  await m.createResource({
    resourceType: 'DetectedIssue',
    status: 'final',
    patient: { reference: `Patient/${ana.id}` },
    author: { reference: `Device/${device.id}` },
    identifiedDateTime: at('09:00'),
  });
});

afterAll(async () => {
  await t?.close();
});

describe('Measure/$ed-metrics', () => {
  test('computes the flow, alarm and agent metrics from the FHIR data and stores MeasureReports', async () => {
    const { metrics: m, reports } = await metrics(t.medplum, 'start=2026-03-02&end=2026-03-04');
    const f = m.flow;
    expect(f?.arrivals).toBe(3);
    expect(f?.doorToTriage).toEqual({ n: 2, median: 10, p90: 14 });
    expect(f?.doorToProvider).toEqual({ n: 2, median: 32.5, p90: 42.5 });
    expect(f?.lengthOfStay.admitted).toEqual({ n: 1, median: 240, p90: 240 });
    expect(f?.lengthOfStay.discharged).toEqual({ n: 1, median: 120, p90: 120 });
    expect(f?.boarding).toEqual({ n: 1, median: 120, p90: 120 });
    expect(f?.lwbs).toEqual({ count: 1, rate: 0.3333 });
    expect(f?.returns72h).toEqual({ count: 1, rate: 0.3333 });
    expect(f?.acuityMix).toEqual({ '1': 0, '2': 1, '3': 1, '4': 0, '5': 0, unknown: 1 });
    expect(f?.arrivalsByWeekday).toEqual([2, 1, 0, 0, 0, 0, 0]);
    expect(f?.arrivalsByDay).toEqual([
      { day: '2026-03-02', count: 2 },
      { day: '2026-03-03', count: 1 },
    ]);
    // Ana was in the ED 08:00-12:00, Bo 09:00-11:00 and 17:00-18:00: 7 patient-hours, one alarm.
    expect(m.alarms).toEqual({ alarms: 1, patientHours: 7, perPatientHour: 0.143 });
    expect(m.agents?.steps.triage).toMatchObject({ runs: 2, failed: 0, latency: { n: 2, median: 0.1 } });
    expect(m.agents?.steps.billing).toMatchObject({ runs: 2, failed: 1, failureRate: 0.5, skipped: 1 });
    expect(m.agents?.overrides).toEqual({ triaged: 2, overridden: 1, rate: 0.5, upTriage: 1, downTriage: 0, same: 0 });

    expect(reports).toHaveLength(12);
    expect(reports.every((r) => r.id && r.measure?.startsWith(`${ES}/Measure/`))).toBe(true);
    const stored = await t.medplum.searchResources('MeasureReport', { measure: `${ES}/Measure/ed-lwbs` }, { cache: 'no-cache' });
    expect(stored).toHaveLength(1);
    expect(stored[0].group?.[0].measureScore?.value).toBe(0.3333);
    const measures = await t.medplum.searchResources('Measure', { url: `${ES}/Measure/ed-boarding` }, { cache: 'no-cache' });
    expect(measures).toHaveLength(1);

    // The same period and filter again replaces the report instead of adding one.
    await metrics(t.medplum, 'start=2026-03-02&end=2026-03-04');
    const again = await t.medplum.searchResources('MeasureReport', { measure: `${ES}/Measure/ed-lwbs` }, { cache: 'no-cache' });
    expect(again.map((r) => r.id)).toEqual([stored[0].id]);
  });

  test('filters by area (Location or zone) and acuity; a period in the local time zone', async () => {
    const resus = await metrics(t.medplum, 'start=2026-03-02&end=2026-03-04&area=resus&store=false');
    expect(resus.metrics.flow?.arrivals).toBe(1);
    expect(resus.reports.every((r) => !r.id)).toBe(true);
    const wholeArea = await metrics(t.medplum, `start=2026-03-02&end=2026-03-04&area=Location/${area.id}&store=false`);
    expect(wholeArea.metrics.flow?.arrivals).toBe(2);
    const acute = await metrics(t.medplum, 'start=2026-03-02&end=2026-03-04&acuity=1,2,3&group=flow&store=false');
    expect(acute.metrics.flow?.arrivals).toBe(2);
    expect(acute.metrics.alarms).toBeUndefined();
    const local = await metrics(t.medplum, 'start=2026-03-02&end=2026-03-03&tz=America/New_York&group=flow&store=false');
    expect(local.metrics.flow?.arrivalsByHour[3]).toBe(1);
    expect(local.metrics.flow?.arrivalsByHour[4]).toBe(1);
  });

  test('bad parameters are 400s; a role that may not search everything gets 403', async () => {
    for (const q of [
      'end=2026-03-02',
      'start=2026-03-02&end=2026-03-01',
      'start=x&end=2026-03-02',
      'start=2026-03-02&end=2026-03-03&acuity=7',
      'start=2026-03-02&end=2026-03-03&tz=Mars/Base',
      'start=2026-03-02&end=2026-03-03&group=nope',
    ]) {
      const res = await fhirFetch(t.fhirUrl, 'GET', `Measure/$ed-metrics?${q}`);
      expect(res.status, q).toBe(400);
    }
    const project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
    await createUser(t.server.app.repo(), project, {
      email: 'clerk@example.org',
      password: 'correct horse battery staple',
      firstName: 'Reg',
      lastName: 'Clerk',
      role: 'registration-clerk',
    });
    const clerk = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    await clerk.processCode(
      (await clerk.startLogin({ email: 'clerk@example.org', password: 'correct horse battery staple' })).code as string,
    );
    await expect(metrics(clerk, 'start=2026-03-02&end=2026-03-04')).rejects.toThrow(/forbidden/i);
  });
});
