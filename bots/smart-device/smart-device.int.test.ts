/**
 * The device path through the real server: a device integrator (its own client, limited to its
 * Devices) streams vital signs; a deteriorating stream raises a Flag and a DetectedIssue, pages
 * the on-call team, starts emergency_device, and escalates an unacknowledged page; repeated
 * alarms are not repeated; a low battery is an alert too.
 */
import { resolve } from 'node:path';
import { MedplumClient, type WithId } from '@medplum/core';
import type {
  AuditEvent,
  Bundle,
  CareTeam,
  Communication,
  DetectedIssue,
  Device,
  Flag,
  Observation,
  Organization,
  Patient,
  Practitioner,
  Project,
  RequestGroup,
  Subscription,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { createClient } from '../../server/auth/admin.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { waitFor } from '../../test/workflow-agents.ts';
import { deliveriesOf } from '../communication/delivery.ts';
import { ES } from '../lib/workflow.ts';
import { DEVICE_LAST_SEEN_EXTENSION } from './device-health.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOINC = 'http://loinc.org';
const HOUR = 3_600_000;
let t: TestServer;
let integrator: MedplumClient;
let org: WithId<Organization>;
let first: WithId<Practitioner>;
let second: WithId<Practitioner>;
let communicationBot: string;
let smartDeviceBot: string;

function vital(device: Device, patient: Patient, code: string, value: number, ucum: string, minutesAgo: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: `Patient/${patient.id}` },
    device: { reference: `Device/${device.id}` },
    effectiveDateTime: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
    valueQuantity: { value, unit: ucum, system: 'http://unitsofmeasure.org', code: ucum },
  };
}

/** One reading set as the integrator posts it: a batch of Observations (one event each on the server). */
async function post(observations: Observation[]): Promise<void> {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: observations.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
  };
  await integrator.executeBatch(bundle);
}

async function wornDevice(serial: string): Promise<{ patient: WithId<Patient>; device: WithId<Device> }> {
  const patient = await t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: `Wearer-${serial}` }],
    birthDate: '1950-01-01',
  });
  const device = await t.medplum.createResource<Device>({
    resourceType: 'Device',
    status: 'active',
    serialNumber: serial,
    deviceName: [{ name: 'Pulse oximeter', type: 'user-friendly-name' }],
    owner: { reference: `Organization/${org.id}` },
    patient: { reference: `Patient/${patient.id}` },
  });
  return { patient, device };
}

const flagsOf = (patient: Patient) =>
  t.medplum.searchResources('Flag', { subject: `Patient/${patient.id}`, status: 'active' }, { cache: 'no-cache' }) as Promise<Flag[]>;
const pagesTo = (who: Practitioner) =>
  t.medplum.searchResources('Communication', { recipient: `Practitioner/${who.id}` }, { cache: 'no-cache' }) as Promise<Communication[]>;

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 100, backoffMaxMs: 500 } });
  const deployed = await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'smart-device', 'communication'] });
  communicationBot = deployed.find((b) => b.name === 'communication')?.id as string;
  smartDeviceBot = deployed.find((b) => b.name === 'smart-device')?.id as string;
  org = await t.medplum.createResource<Organization>({ resourceType: 'Organization', name: 'Acme Monitors' });
  const { client, secret } = await createClient(t.server.app.repo(), t.server.bootstrap.project as WithId<Project>, {
    name: 'Acme monitors',
    role: 'device-integrator',
    parameters: { organization: `Organization/${org.id}` },
  });
  integrator = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  await integrator.startClientLogin(client.id, secret);
  first = await t.medplum.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Yang' }] });
  second = await t.medplum.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Hunt' }] });
  const shift = { start: new Date(Date.now() - HOUR).toISOString(), end: new Date(Date.now() + 8 * HOUR).toISOString() };
  await t.medplum.createResource<CareTeam>({
    resourceType: 'CareTeam',
    status: 'active',
    name: 'Rapid response',
    identifier: [{ system: `${ES}/on-call`, value: 'rapid-response' }],
    // Pages to this team escalate after a second (tests cannot wait five minutes).
    extension: [
      {
        url: `${ES}/StructureDefinition/escalate-after`,
        valueDuration: { value: 1, unit: 's', system: 'http://unitsofmeasure.org', code: 's' },
      },
    ],
    participant: [
      { member: { reference: `Practitioner/${first.id}` }, period: shift },
      { member: { reference: `Practitioner/${second.id}` }, period: shift },
    ],
  });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('a deteriorating device stream', () => {
  test('normal readings raise nothing; falling SpO2 raises a Flag, a DetectedIssue, a page and emergency_device; escalation follows', async () => {
    const { patient, device } = await wornDevice('OX-1001');
    await post([vital(device, patient, '8867-4', 82, '/min', 12), vital(device, patient, '59408-5', 97, '%', 12)]);
    await post([vital(device, patient, '8867-4', 88, '/min', 8), vital(device, patient, '59408-5', 95, '%', 8)]);
    // Give the bot time to assess both readings: no alert for normal values.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await flagsOf(patient)).toHaveLength(0);

    await post([vital(device, patient, '8867-4', 118, '/min', 1), vital(device, patient, '59408-5', 86, '%', 1)]);
    // Each vital is its own Observation and bot run: the heart rate's Flag may be committed before
    // the SpO2 one, so wait for the SpO2 Flag itself.
    await waitFor(
      async () => (await flagsOf(patient)).find((f) => /spo2/i.test(f.code.coding?.[0]?.code ?? '')),
      20_000,
      'an SpO2 alert Flag',
    );
    const issues = (await t.medplum.searchResources(
      'DetectedIssue',
      { patient: `Patient/${patient.id}` },
      { cache: 'no-cache' },
    )) as DetectedIssue[];
    expect(issues).toHaveLength(1);
    expect(issues[0].severity).toBe('high');
    expect(issues[0].detail).toMatch(/SpO2/);

    const page = await waitFor(
      async () => (await pagesTo(first)).find((c) => c.subject?.reference === `Patient/${patient.id}`),
      20_000,
      'the page',
    );
    expect(page.payload?.[0]?.contentString).toMatch(/CRITICAL/);
    // Written with the alert (same assessment time), not by a later hop through the communication agent.
    expect(page.sent).toBe(issues[0].identifiedDateTime);
    expect(page.basedOn?.[0]?.reference).toMatch(/^CommunicationRequest\//);
    // The communication agent (its own Subscription for such pages) then records the external channels.
    const completed = await waitFor(
      async () => {
        const c = await t.medplum.readResource('Communication', page.id as string, { cache: 'no-cache' });
        return c.status === 'completed' ? c : undefined;
      },
      20_000,
      'the communication agent completing the page',
    );
    expect(deliveriesOf(completed).map((d) => `${d.channel}:${d.status}`)).toEqual([
      'in-app:sent',
      'sms:not-configured',
      'email:not-configured',
    ]);

    const group = await waitFor(
      async () => {
        const found = (await t.medplum.searchResources(
          'RequestGroup',
          { subject: `Patient/${patient.id}` },
          { cache: 'no-cache' },
        )) as RequestGroup[];
        // The runner claims the workflow with a draft RequestGroup, then builds its Tasks.
        return found.find((g) => g.instantiatesCanonical?.[0] === `${ES}/PlanDefinition/emergency_device` && g.status !== 'draft');
      },
      20_000,
      'the emergency_device workflow, built',
    );
    expect(['active', 'completed']).toContain(group.status);

    // Nobody acknowledged: after the team's interval the next person is paged.
    await new Promise((r) => setTimeout(r, 1200));
    await t.medplum.executeBot(communicationBot, { action: 'escalate' }, 'application/json');
    const escalated = await waitFor(
      async () => (await pagesTo(second)).find((c) => c.subject?.reference === `Patient/${patient.id}`),
      20_000,
      'the escalation',
    );
    expect(escalated.payload?.[0]?.contentString).toMatch(/CRITICAL/);

    // The same problem a minute later is not a new alarm (alarm fatigue).
    await post([vital(device, patient, '59408-5', 85, '%', 0)]);
    await new Promise((r) => setTimeout(r, 1500));
    const after = (await t.medplum.searchResources(
      'DetectedIssue',
      { patient: `Patient/${patient.id}` },
      { cache: 'no-cache' },
    )) as DetectedIssue[];
    expect(after).toHaveLength(1);
    expect((await pagesTo(first)).filter((c) => c.subject?.reference === `Patient/${patient.id}`)).toHaveLength(1);
  }, 90_000);

  test('a low battery reported on the Device is an alert; the integrator cannot touch another vendor’s device', async () => {
    const { patient, device } = await wornDevice('OX-1002');
    await integrator.updateResource<Device>({
      ...device,
      property: [
        {
          type: { coding: [{ system: 'urn:iso:std:iso:11073:10101', code: '67996' }] },
          valueQuantity: [{ value: 8, unit: '%', system: 'http://unitsofmeasure.org', code: '%' }],
        },
      ],
    });
    const flags = await waitFor(
      async () => {
        const found = await flagsOf(patient);
        return found.find((f) => f.code.coding?.[0]?.code === 'device:battery-low');
      },
      20_000,
      'the battery alert',
    );
    expect(flags.code.text).toMatch(/battery 8 %/);
    const other = await t.medplum.createResource<Device>({ resourceType: 'Device', status: 'active', serialNumber: 'OTHER-1' });
    await expect(integrator.updateResource<Device>({ ...other, serialNumber: 'hacked' })).rejects.toThrow();
  }, 60_000);
});

describe('what runs the bot', () => {
  /** Posts readings one by one (each its own create), returning their ids. */
  async function postEach(observations: Observation[]): Promise<string[]> {
    const ids: string[] = [];
    for (const o of observations) ids.push((await integrator.createResource<Observation>(o)).id as string);
    return ids;
  }

  /** The smart-device bot's runs for an Observation: its Subscription's delivery AuditEvents. */
  async function botRuns(observationId: string): Promise<AuditEvent[]> {
    const subs = (await t.medplum.searchResources('Subscription', { _count: '100' }, { cache: 'no-cache' })) as Subscription[];
    const sub = subs.find((s) => s.criteria?.startsWith('Observation?') && s.channel.endpoint === `Bot/${smartDeviceBot}`);
    expect(sub).toBeDefined();
    const events = (await t.medplum.searchResources(
      'AuditEvent',
      { entity: `Subscription/${sub?.id}`, _count: '1000' },
      { cache: 'no-cache' },
    )) as AuditEvent[];
    return events.filter((e) => e.entity?.some((x) => x.what?.reference?.startsWith(`Observation/${observationId}/_history/`)));
  }

  test('a normal reading does not run the bot; one that raises a NEWS2 sub-score does, through the real Subscription', async () => {
    const { patient, device } = await wornDevice('OX-2001');
    const [quietHr, quietSpo2, raisedHr] = await postEach([
      vital(device, patient, '8867-4', 76, '/min', 2),
      vital(device, patient, '59408-5', 98, '%', 2),
      vital(device, patient, '8867-4', 96, '/min', 1), // NEWS2 pulse 1: could raise the aggregate
    ]);
    const runs = await waitFor(
      async () => {
        const found = await botRuns(raisedHr);
        return found.length > 0 ? found : undefined;
      },
      20_000,
      'the bot run for the raised heart rate',
    );
    expect(runs[0].outcome).toBe('0');
    // Deliveries are dispatched in commit order: the earlier quiet readings would have run by now.
    expect(await botRuns(quietHr)).toHaveLength(0);
    expect(await botRuns(quietSpo2)).toHaveLength(0);
    expect(await flagsOf(patient)).toHaveLength(0);
  }, 60_000);

  test('a critical reading is assessed as of its own time: a later normal reading stored before its run does not hide it', async () => {
    const { patient, device } = await wornDevice('OX-2003');
    // One transaction: when the agent runs for the desaturation, the recovery a minute later is stored.
    await post([vital(device, patient, '59408-5', 84, '%', 2), vital(device, patient, '59408-5', 98, '%', 1)]);
    const flags = await waitFor(
      async () => {
        const found = await flagsOf(patient);
        return found.some((f) => /spo2/i.test(f.code.coding?.[0]?.code ?? '')) ? found : undefined;
      },
      20_000,
      'the SpO2 alert of the desaturation',
    );
    expect(flags.length).toBeGreaterThan(0);
    const pages = await t.medplum.searchResources('CommunicationRequest', { subject: `Patient/${patient.id}` }, { cache: 'no-cache' });
    expect(pages.length).toBeGreaterThan(0);
  }, 60_000);

  test('a device streaming every second: with more readings in the hour than one search returns, the newest is still assessed', async () => {
    const { patient, device } = await wornDevice('OX-2005');
    // 3,000 quiet readings, one a second for the last 50 minutes (quiet: no bot run), in transactions of 250.
    const quiet = Array.from({ length: 3000 }, (_, i) => vital(device, patient, '59408-5', 98, '%', 50 - i / 60));
    for (let i = 0; i < quiet.length; i += 250) await post(quiet.slice(i, i + 250));
    await post([vital(device, patient, '59408-5', 84, '%', 0)]);
    // Unsorted, the search returned 500 of the 3,001 readings in id order: this one in one run of six.
    const issue = await waitFor(
      async () => {
        const found = await t.medplum.searchResources('DetectedIssue', { patient: `Patient/${patient.id}` }, { cache: 'no-cache' });
        return found[0];
      },
      20_000,
      'the alert of the newest reading',
    );
    expect(issue.detail).toMatch(/SpO2 84/);
    expect(issue.detail).toMatch(/Only the newest 500 readings of the last 60 min were assessed/);
  }, 120_000);

  test('the sweep raises a trend that stays within normal values (critical: a page), and keeps the Device last seen', async () => {
    const { patient, device } = await wornDevice('OX-2002');
    // Both systolic pressures score 0 in NEWS2; the fall of 50 mmHg in half an hour is critical.
    const readings = [vital(device, patient, '8480-6', 200, 'mm[Hg]', 30), vital(device, patient, '8480-6', 150, 'mm[Hg]', 0)];
    const [, newest] = await postEach(readings);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await botRuns(newest)).toHaveLength(0);
    expect(await flagsOf(patient)).toHaveLength(0);

    const result = (await t.medplum.executeBot(smartDeviceBot, { action: 'device-health' }, 'application/json')) as {
      alerts: { patient?: string; written: string[] }[];
    };
    const mine = result.alerts.find((a) => a.patient === `Patient/${patient.id}`);
    expect(mine?.written.some((w) => w.startsWith('Flag/'))).toBe(true);
    const flags = await flagsOf(patient);
    expect(flags.map((f) => f.code.coding?.[0]?.code)).toEqual(['trend:sbp-falling']);
    expect(flags[0].code.text).toMatch(/systolic BP falling: 200 → 150/);
    const issue = (await t.medplum.searchResources(
      'DetectedIssue',
      { patient: `Patient/${patient.id}` },
      { cache: 'no-cache' },
    )) as DetectedIssue[];
    expect(issue[0].evidence?.[0]?.detail?.map((d) => d.reference)).toContain(`Observation/${newest}`);
    await waitFor(
      async () => (await pagesTo(first)).find((c) => c.subject?.reference === `Patient/${patient.id}`),
      20_000,
      'the page for the trend',
    );

    const seen = (await t.medplum.readResource('Device', device.id, { cache: 'no-cache' })).extension?.find(
      (e) => e.url === DEVICE_LAST_SEEN_EXTENSION,
    )?.valueDateTime;
    expect(seen).toBe(readings[1].effectiveDateTime);

    // The next sweep finds the same trend open: no second alert.
    await t.medplum.executeBot(smartDeviceBot, { action: 'device-health' }, 'application/json');
    expect(await flagsOf(patient)).toHaveLength(1);
    expect(await t.medplum.searchResources('DetectedIssue', { patient: `Patient/${patient.id}` }, { cache: 'no-cache' })).toHaveLength(1);
  }, 60_000);
});
