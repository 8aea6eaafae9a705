import type { MedplumClient, WithId } from '@medplum/core';
import type { DetectedIssue, Device, Encounter, Location, Observation, Patient, Task } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { computeMetrics, type MetricsQuery } from './compute.ts';
import { computeMetricsFromResources } from './from-resources.ts';
import type { AllMetrics } from './reports.ts';

// The fact tables (migration 0010, kept by a trigger) must give exactly the numbers the metric
// definitions give when read from the resources themselves, after every kind of write.

const ES = 'https://emergisphere.dev/fhir';
const DAY = '2026-03-02';
const at = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;
const esi = (level: number | string) => ({ coding: [{ system: `${ES}/CodeSystem/esi`, code: String(level) }] });

let t: TestServer;
let m: MedplumClient;

const QUERIES: Omit<MetricsQuery, 'groups'>[] = [
  { window: { from: new Date(`${DAY}T00:00:00Z`), to: new Date('2026-03-05T00:00:00Z'), timeZone: 'UTC' }, filter: {} },
  {
    window: { from: new Date(`${DAY}T00:00:00Z`), to: new Date('2026-03-05T00:00:00Z'), timeZone: 'Europe/Paris' },
    filter: { acuity: [2, 3] },
  },
  { window: { from: new Date('2026-03-03T00:00:00Z'), to: new Date('2026-03-04T00:00:00Z'), timeZone: 'UTC' }, filter: {} },
  // Returns against visits before the window (the 72 h look-back), in a zone west of UTC.
  { window: { from: new Date('2026-03-04T00:00:00Z'), to: new Date('2026-03-05T00:00:00Z'), timeZone: 'America/New_York' }, filter: {} },
  { window: { from: new Date(`${DAY}T00:00:00Z`), to: new Date('2026-03-05T00:00:00Z'), timeZone: 'UTC' }, filter: { area: 'resus' } },
];

async function both(): Promise<{ facts: AllMetrics; resources: AllMetrics }[]> {
  const repo = t.server.app.repo();
  const out = [];
  // The area filter by the area Location's id, too (known once the Locations exist).
  const byArea = { window: QUERIES[0].window, filter: { area: area.id, acuity: [2, 3, 4] } };
  for (const q of [...QUERIES, byArea]) {
    const query = { ...q, groups: ['flow', 'alarms', 'agents'] } as MetricsQuery;
    out.push({ facts: await computeMetrics(repo, query), resources: await computeMetricsFromResources(repo, query) });
  }
  return out;
}

async function expectSame(): Promise<AllMetrics> {
  const results = await both();
  for (const { facts, resources } of results) {
    expect(facts).toEqual(resources);
  }
  return results[0].facts;
}

let resus: WithId<Location>;
let fast: WithId<Location>;
let area: WithId<Location>;
let ana: WithId<Patient>;
let bo: WithId<Patient>;
let cy: WithId<Patient>;
let device: WithId<Device>;

const visit = (patient: Patient, start: string, extra: Partial<Encounter> = {}) =>
  m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    period: { start },
    ...extra,
  });
const acuity = (enc: Encounter, time: string, level: number, method: string) =>
  m.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
    encounter: { reference: `Encounter/${enc.id}` },
    effectiveDateTime: time,
    valueCodeableConcept: esi(level),
    method: { coding: [{ code: method }] },
  });
const step = (enc: Encounter, code: string, status: Task['status'], start?: string, end?: string) =>
  m.createResource<Task>({
    resourceType: 'Task',
    status,
    intent: 'order',
    code: { coding: [{ system: `${ES}/CodeSystem/workflow-step`, code }] },
    focus: { reference: `Encounter/${enc.id}` },
    authoredOn: enc.period?.start,
    ...(start ? { executionPeriod: { start, ...(end ? { end } : {}) } } : {}),
  });
const alarm = (patient: Patient, time: string, author = `Device/${device.id}`) =>
  m.createResource<DetectedIssue>({
    resourceType: 'DetectedIssue',
    status: 'final',
    patient: { reference: `Patient/${patient.id}` },
    author: { reference: author },
    identifiedDateTime: time,
  });

beforeAll(async () => {
  t = await startTestServer();
  m = t.medplum;
  area = await m.createResource<Location>({ resourceType: 'Location', name: 'ED', physicalType: { coding: [{ code: 'wa' }] } });
  const bed = (zone: string) =>
    m.createResource<Location>({
      resourceType: 'Location',
      name: `bed ${zone}`,
      physicalType: { coding: [{ code: 'bd' }] },
      partOf: { reference: `Location/${area.id}` },
      type: [{ coding: [{ system: `${ES}/CodeSystem/bed-zone`, code: zone }] }],
    });
  resus = await bed('resus');
  fast = await bed('fast-track');
  ana = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Rivera' }] });
  bo = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Okafor' }] });
  cy = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Chen' }] });
  device = await m.createResource<Device>({ resourceType: 'Device', serialNumber: 'W-9' });
});

afterAll(async () => {
  await t?.close();
});

describe('ED fact tables agree with the metric definitions', () => {
  test('creates, updates, re-triage, bed moves, admissions, deletes, merges and odd data', async () => {
    // Ana: arrives 07:30, automated ESI 3 then a clinician up-triages to 2; seen by two providers.
    let a1 = await visit(ana, at('07:30'), {
      priority: esi(3),
      location: [{ location: { reference: `Location/${fast.id}` } }],
      participant: [
        { period: { start: at('08:10') }, individual: { display: 'Dr late' } },
        { period: { start: at('07:55') }, individual: { display: 'Dr early' } },
      ],
    });
    await acuity(a1, at('07:40'), 3, 'rules');
    await step(a1, 'triage', 'completed', at('07:31'), '2026-03-02T07:31:04.500Z');
    await step(a1, 'admission', 'failed', at('07:32'));
    await step(a1, 'billing', 'cancelled');
    await alarm(ana, at('09:00'));
    await alarm(ana, at('09:30'), 'Practitioner/x'); // not a device: not an alarm
    // Bo: LWBS, with the disposition only in a coding display.
    const b1 = await visit(bo, at('10:00'), {
      status: 'cancelled',
      period: { start: at('10:00'), end: at('11:00') },
      hospitalization: { dischargeDisposition: { coding: [{ code: 'oth', display: 'Patient LWBS' }] } },
      location: [{ location: { reference: `Location/${resus.id}` } }],
    });
    await step(b1, 'triage', 'completed', at('10:01'), at('10:02'));
    // Cy: two visits, the second within 72 h (a return); an open visit on the third day.
    const c1 = await visit(cy, at('13:00'), { status: 'finished', period: { start: at('13:00'), end: at('15:00') }, priority: esi(4) });
    await acuity(c1, at('13:20'), 4, 'rules-llm');
    const c2 = await visit(cy, at('09:00', '2026-03-04'), { priority: esi(5) });
    await acuity(c2, at('09:05', '2026-03-04'), 5, 'rules');
    await step(c2, 'triage', 'completed', at('09:01', '2026-03-04'), at('09:03', '2026-03-04'));
    await alarm(cy, at('10:00', '2026-03-04'));
    // An inpatient Encounter that is not part of any ED visit, and a non-ED Encounter.
    await m.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'finished',
      class: { code: 'AMB' },
      period: { start: at('12:00') },
    });
    let before = await expectSame();
    expect(before.flow?.arrivals).toBe(4);
    expect(before.flow?.returns72h.count).toBe(1);
    expect(before.flow?.lwbs.count).toBe(1);
    expect(before.flow?.doorToProvider).toEqual({ n: 1, median: 25, p90: 25 });
    expect(before.alarms?.alarms).toBe(2);
    expect(before.agents?.steps.triage.latency.n).toBe(3);

    // Re-triage: a clinician override, the Encounter's priority and bed updated; the visit ends and is admitted.
    await acuity(a1, at('07:50'), 2, 'clinician-override');
    a1 = await m.updateResource<Encounter>({
      ...a1,
      status: 'finished',
      priority: esi(2),
      period: { start: at('07:30'), end: at('12:30') },
      location: [...(a1.location ?? []), { location: { reference: `Location/${resus.id}` } }],
    });
    const imp = await m.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { code: 'IMP' },
      subject: { reference: `Patient/${ana.id}` },
      partOf: { reference: `Encounter/${a1.id}` },
      period: { start: at('10:30') },
    });
    before = await expectSame();
    expect(before.flow?.lengthOfStay.admitted.n).toBe(1);
    expect(before.flow?.boarding).toEqual({ n: 1, median: 120, p90: 120 });
    expect(before.agents?.overrides).toMatchObject({ overridden: 1, upTriage: 1 });
    expect(before.flow?.acuityMix['2']).toBe(1);

    // Deletes: the admission, Bo's visit, an alarm's patient visit stays.
    await m.deleteResource('Encounter', imp.id);
    await m.deleteResource('Encounter', b1.id);
    before = await expectSame();
    expect(before.flow?.lengthOfStay.admitted.n).toBe(0);
    expect(before.flow?.lwbs.count).toBe(0);
    expect(before.flow?.arrivals).toBe(3);

    // A merge: Cy's first visit turns out to be Bo's (the subject is re-pointed), so Cy's second visit is no return.
    await m.updateResource<Encounter>({ ...c1, subject: { reference: `Patient/${bo.id}` } });
    before = await expectSame();
    expect(before.flow?.returns72h.count).toBe(0);

    // Visits carry their first ESI Observations (migration 0013); the window still decides which count.
    // Dee's clock put an automated level and an override before the midnight of her arrival: a
    // window from that midnight reads the later ones. Eve's only triage lies beyond every window.
    const dee = await visit(bo, at('00:10', '2026-03-03'), { priority: esi(2) });
    await acuity(dee, at('23:50'), 4, 'rules');
    await acuity(dee, at('23:55'), 4, 'clinician-override');
    await acuity(dee, at('00:30', '2026-03-03'), 3, 'rules');
    await acuity(dee, at('00:40', '2026-03-03'), 1, 'clinician-override');
    const eve = await visit(ana, at('05:00', '2026-03-03'));
    await acuity(eve, at('10:00', '2026-03-06'), 3, 'rules');
    const third = (await both())[2].facts;
    expect(third.flow?.doorToTriage).toEqual({ n: 1, median: 20, p90: 20 });
    expect(third.agents?.overrides).toMatchObject({ triaged: 1, overridden: 1, upTriage: 1 });
    before = await expectSame();
    expect(before.agents?.overrides).toMatchObject({ triaged: 4, overridden: 2, same: 1 });

    // An ambulatory Encounter with its step and ESI Observation becomes an ED visit: its facts join
    // the population with everything written about it before; then its ESI Observation moves to
    // another visit and its bed and level change.
    let amb = await m.createResource<Encounter>({
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { code: 'AMB' },
      subject: { reference: `Patient/${cy.id}` },
      period: { start: at('16:00') },
    });
    await step(amb, 'legal', 'completed', at('16:01'), at('16:05'));
    const ambEsi = await acuity(amb, at('16:10'), 1, 'rules');
    expect((await expectSame()).agents?.steps.legal).toBeUndefined();
    amb = await m.updateResource<Encounter>({ ...amb, class: { code: 'EMER' }, priority: esi(1) });
    let now = await expectSame();
    expect(now.agents?.steps.legal).toMatchObject({ runs: 1, latency: { n: 1, median: 4, p90: 4 } });
    expect(now.flow?.doorToTriage.n).toBe(before.flow?.doorToTriage.n ? before.flow.doorToTriage.n + 1 : 1);
    await m.updateResource<Observation>({
      ...ambEsi,
      encounter: { reference: `Encounter/${eve.id}` },
      effectiveDateTime: at('05:10', '2026-03-03'),
    });
    amb = await m.updateResource<Encounter>({ ...amb, priority: esi(3), location: [{ location: { reference: `Location/${resus.id}` } }] });
    now = await expectSame();
    expect(now.flow?.doorToTriage.n).toBe(before.flow?.doorToTriage.n ? before.flow.doorToTriage.n + 1 : 1);
    await m.deleteResource('Encounter', amb.id);
    await m.deleteResource('Encounter', dee.id);
    await m.deleteResource('Encounter', eve.id);
    expect((await expectSame()).agents?.steps.legal).toBeUndefined();

    // A visit re-classified as inpatient leaves the ED population; a patched task status counts as failed.
    await m.updateResource<Encounter>({ ...c2, class: { code: 'IMP' } });
    const tasks = await m.searchResources('Task', { focus: `Encounter/${a1.id}`, code: 'triage' });
    await m.patchResource('Task', tasks[0].id as string, [{ op: 'replace', path: '/status', value: 'failed' }]);
    const after = await expectSame();
    expect(after.flow?.arrivals).toBe(2);
    expect(after.agents?.steps.triage).toMatchObject({ runs: 1, failed: 1 });
  });

  test('a transaction that fails leaves no facts behind; a deleted resource leaves none either', async () => {
    const count = async () => Number((await t.server.app.repo().query<{ n: string }>('SELECT count(*) AS n FROM ed_visit_fact')).rows[0].n);
    const n0 = await count();
    await expect(
      m.executeBatch({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            request: { method: 'POST', url: 'Encounter' },
            resource: {
              resourceType: 'Encounter',
              status: 'in-progress',
              class: { code: 'EMER' },
              period: { start: at('08:00', '2026-03-03') },
            },
          },
          { request: { method: 'PUT', url: 'Patient/does-not-match' }, resource: { resourceType: 'Observation' } as never },
        ],
      }),
    ).rejects.toThrow();
    expect(await count()).toBe(n0);
    const e = await visit(ana, at('08:00', '2026-03-03'));
    expect(await count()).toBe(n0 + 1);
    await m.deleteResource('Encounter', e.id);
    expect(await count()).toBe(n0);
    await expectSame();
  });

  test('FHIR dates become the instants Date.parse gives; unreadable ones become no date instead of a failed write', async () => {
    const inputs = [
      '2026',
      '2026-03',
      '2026-03-02',
      '2026-03-02T10:00Z',
      '2026-03-02T10:00:01.123+02:00',
      '2024-02-29',
      '2026-12-31T23:59:59.999-05:00',
    ];
    const invalid = ['2026-02-29', '2026-13-01', '2026-03-02T24:00:00Z', 'garbage', '0000-01-01', ''];
    const { rows } = await t.server.app
      .repo()
      .query<{ x: string; ms: string | null }>(
        'SELECT x, floor(extract(epoch FROM es_fhir_instant(x)) * 1000)::bigint AS ms FROM unnest($1::text[]) x',
        [[...inputs, ...invalid]],
      );
    const got = Object.fromEntries(rows.map((r) => [r.x, r.ms === null ? null : Number(r.ms)]));
    for (const x of inputs) expect(got[x]).toBe(Date.parse(x));
    for (const x of invalid) expect(got[x]).toBeNull();
  });

  test('concurrent writers of one visit: the second waits for the first, or retries when its snapshot is older', async () => {
    // Straight to the resource table on two connections, so each side's transaction is held open
    // at a chosen point. The copies (migration 0013) must end as a join would read them.
    const connect = async () => {
      const c = new pg.Client({ connectionString: t.databaseUrl });
      await c.connect();
      return c;
    };
    const [one, two, watcher] = await Promise.all([connect(), connect(), connect()]);
    const write = (c: pg.Client, resource: Record<string, unknown> & { resourceType: string; id: string }) =>
      c.query(
        `INSERT INTO resource (resource_type, id, version_id, last_updated, content) VALUES ($1, $2, gen_random_uuid(), now(), $3)
         ON CONFLICT (resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id, content = EXCLUDED.content`,
        [resource.resourceType, resource.id, JSON.stringify(resource)],
      );
    const encounter = (id: string, level: number) => ({
      resourceType: 'Encounter',
      id,
      status: 'in-progress',
      class: { code: 'EMER' },
      period: { start: at('06:00') },
      priority: esi(level),
    });
    const task = (id: string, visitId: string) => ({
      resourceType: 'Task',
      id,
      status: 'completed',
      code: { coding: [{ system: `${ES}/CodeSystem/workflow-step`, code: 'triage' }] },
      encounter: { reference: `Encounter/${visitId}` },
      authoredOn: at('06:00'),
    });
    const stepEsi = async (id: string) =>
      (await watcher.query<{ visit_esi: number | null }>('SELECT visit_esi FROM ed_step_fact WHERE id = $1', [id])).rows[0]?.visit_esi;
    // Resolves once `c`'s backend waits for a lock (polled, not timed).
    const waiting = async (c: pg.Client) => {
      const pid = (c as unknown as { processID: number }).processID;
      for (;;) {
        const { rows } = await watcher.query<{ w: string | null }>('SELECT wait_event_type AS w FROM pg_stat_activity WHERE pid = $1', [
          pid,
        ]);
        if (rows[0]?.w === 'Lock') return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      // A Task is written first, while its visit does not exist yet; the visit's insert waits for it.
      await one.query('BEGIN');
      await write(one, task('cc-task-1', 'cc-visit-1'));
      await two.query('BEGIN');
      const visitWrite = write(two, encounter('cc-visit-1', 2));
      await waiting(two);
      await one.query('COMMIT');
      await visitWrite;
      await two.query('COMMIT');
      expect(await stepEsi('cc-task-1')).toBe(2);

      // The visit is re-triaged first; a Task written meanwhile waits and copies the new level.
      await one.query('BEGIN');
      await write(one, encounter('cc-visit-1', 4));
      await two.query('BEGIN');
      const taskWrite = write(two, task('cc-task-2', 'cc-visit-1'));
      await waiting(two);
      await one.query('COMMIT');
      await taskWrite;
      await two.query('COMMIT');
      expect(await stepEsi('cc-task-2')).toBe(4);
      expect(await stepEsi('cc-task-1')).toBe(4);

      // A snapshot older than the other side's commit cannot copy stale values: serialization failure.
      await one.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await one.query('SELECT 1');
      await write(two, encounter('cc-visit-1', 1));
      await expect(write(one, task('cc-task-3', 'cc-visit-1'))).rejects.toMatchObject({ code: '40001' });
      await one.query('ROLLBACK');
      expect(await stepEsi('cc-task-3')).toBeUndefined();
      expect(await stepEsi('cc-task-2')).toBe(1);
    } finally {
      await watcher.query(`DELETE FROM resource WHERE id IN ('cc-task-1', 'cc-task-2', 'cc-task-3', 'cc-visit-1')`);
      await Promise.all([one.end(), two.end(), watcher.end()]);
    }
    await expectSame();
  });
});
