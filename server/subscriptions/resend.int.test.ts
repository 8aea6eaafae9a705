import { MedplumClient } from '@medplum/core';
import type { Patient, Project, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { fetchJson, outcomeText } from '../fhir/search/search-test-kit.ts';

let t: TestServer;
let hooks: HookReceiver;

beforeAll(async () => {
  hooks = await startHookReceiver();
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200, pollIntervalMs: 100 } });
});
afterAll(async () => {
  await t?.close();
  await hooks?.close();
});

async function subscribe(criteria: string, path: string): Promise<Subscription & { id: string }> {
  return (await t.medplum.createResource<Subscription>({
    resourceType: 'Subscription',
    status: 'active',
    reason: 'resend test',
    criteria,
    channel: { type: 'rest-hook', endpoint: hooks.url + path },
  })) as Subscription & { id: string };
}

const hooksFor = (subId: string, patientId: string) =>
  hooks.received.filter((h) => h.headers['x-medplum-subscription'] === subId && h.body.includes(patientId));

describe('$resend', () => {
  let patient: Patient & { id: string };
  let all: Subscription & { id: string };
  let narrow: Subscription & { id: string };

  beforeAll(async () => {
    all = await subscribe('Patient', '/all');
    narrow = await subscribe('Patient?name=NobodyHasThisName', '/narrow');
    patient = (await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Resend' }] })) as Patient & {
      id: string;
    };
    await hooks.waitFor(() => hooksFor(all.id, patient.id).length === 1);
  });

  test('without a subscription: the current version is delivered again to every matching subscription', async () => {
    await t.medplum.post(t.medplum.fhirUrl('Patient', patient.id, '$resend'), {});
    await hooks.waitFor(() => hooksFor(all.id, patient.id).length === 2);
    const [first, second] = hooksFor(all.id, patient.id);
    expect(JSON.parse(second.body).meta.versionId).toBe(JSON.parse(first.body).meta.versionId);
    expect(hooksFor(narrow.id, patient.id)).toHaveLength(0);
  });

  test('with a subscription: delivered to that one only (Parameters body accepted too)', async () => {
    await t.medplum.post(t.medplum.fhirUrl('Patient', patient.id, '$resend'), {
      resourceType: 'Parameters',
      parameter: [{ name: 'subscription', valueString: `Subscription/${narrow.id}` }],
    });
    await hooks.waitFor(() => hooksFor(narrow.id, patient.id).length === 1);
    expect(hooksFor(all.id, patient.id)).toHaveLength(2);
  });

  test('versionId: an earlier version is delivered again', async () => {
    const first = patient.meta?.versionId as string;
    const updated = await t.medplum.updateResource<Patient>({ ...patient, name: [{ family: 'Resend', given: ['Later'] }] });
    await hooks.waitFor(() => hooksFor(all.id, patient.id).length === 3);
    await t.medplum.post(t.medplum.fhirUrl('Patient', patient.id, '$resend'), { versionId: first, subscription: `Subscription/${all.id}` });
    await hooks.waitFor(() => hooksFor(all.id, patient.id).length === 4);
    const last = hooksFor(all.id, patient.id)[3];
    expect(JSON.parse(last.body).meta.versionId).toBe(first);
    expect(updated.meta?.versionId).not.toBe(first);
  });

  test('bad input → 400/404 OperationOutcomes', async () => {
    const cases: [string, unknown, number, string][] = [
      [`Patient/${patient.id}/$resend`, { interaction: 'touch' }, 400, 'interaction'],
      [`Patient/${patient.id}/$resend`, { subscription: 'Observation/1' }, 400, 'subscription'],
      [`Patient/nope/$resend`, {}, 404, ''],
      [`Patient/${patient.id}/$resend`, { subscription: 'Subscription/nope' }, 404, ''],
      [`Patient/${patient.id}/$resend`, { versionId: '00000000-0000-4000-8000-000000000000' }, 404, 'no version'],
      [`Patient/${patient.id}/$resend`, { versionId: '1' }, 400, 'versionId'],
    ];
    for (const [path, body, status, text] of cases) {
      const res = await fetchJson(`${t.fhirUrl}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status, path + JSON.stringify(body)).toBe(status);
      expect(outcomeText(res.body)).toContain(text);
    }
    const enc = await subscribe('Encounter', '/enc');
    const wrongType = await fetchJson(`${t.fhirUrl}Patient/${patient.id}/$resend`, {
      method: 'POST',
      body: JSON.stringify({ subscription: `Subscription/${enc.id}` }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(wrongType.status).toBe(400);
    expect(outcomeText(wrongType.body)).toContain('Encounter');
  });

  test('non-admins get 403', async () => {
    const me = await t.medplum.get<{ project: Project }>('auth/me');
    await t.medplum.invite(me.project.id as string, {
      resourceType: 'Practitioner',
      firstName: 'Res',
      lastName: 'End',
      email: 'resend-user@example.test',
      password: 'resend-password-1',
    });
    const user = new MedplumClient({ baseUrl: t.baseUrl, fetch });
    const login = await user.startLogin({ email: 'resend-user@example.test', password: 'resend-password-1' });
    await user.processCode(login.code as string);
    await expect(user.post(user.fhirUrl('Patient', patient.id, '$resend'), {})).rejects.toThrow(/forbidden/i);
  });
});
