import { readFileSync } from 'node:fs';
import type { Device, Encounter, Observation, ServiceRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { MllpClient } from '../hl7-bridge/mllp/client.ts';
import { type Stack, startStack, waitFor } from '../hl7-bridge/test-support/stack.ts';
import { freePort } from '../test/server.ts';
import { runDemo } from './demo.ts';
import { toEr7 } from './hl7-send.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ bots: ['hl7-inbound'] });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

test('a demo shift fills the ED: desk and HL7 arrivals, vitals, wearables, discharges', async () => {
  const { medplum } = stack.t;
  // Three simulated hours in three real seconds.
  const stats = await runDemo({
    medplum,
    hl7: { host: '127.0.0.1', port: stack.port },
    seed: 3,
    speed: 3600,
    durationMinutes: 180,
    arrivalsPerHour: 12,
    syntheticPatients: 0,
  });
  expect(stats.errors).toEqual([]);
  expect(stats.arrivals).toBeGreaterThan(10);
  expect(stats.viaHl7).toBeGreaterThan(0);
  expect(stats.wearables).toBeGreaterThan(0);
  expect(stats.discharges).toBeGreaterThan(0);
  const desk: Encounter[] = await medplum.searchResources('Encounter', { _id: stats.encounters.join(','), _count: '200' });
  expect(desk).toHaveLength(stats.arrivals - stats.viaHl7);
  expect(desk.every((e) => e.class?.code === 'EMER' && e.reasonCode?.[0].text)).toBe(true);
  expect(desk.filter((e) => e.status === 'finished').length).toBe(stats.discharges - stats.hl7Discharges);
  // The legacy system's registrations become Encounters through the bridge and the hl7-inbound bot.
  const all = await waitFor('the HL7 arrivals as Encounters', async () => {
    const found: Encounter[] = await medplum.searchResources('Encounter', { class: 'EMER', _count: '200' });
    return found.length === stats.arrivals && found;
  });
  expect(all.filter((e) => !stats.encounters.includes(e.id as string)).every((e) => e.reasonCode?.length)).toBe(true);
  const streamed: Observation[] = await medplum.searchResources('Observation', { 'device:missing': 'false', _count: '1000' });
  expect(streamed.length).toBeGreaterThan(0);
  expect(streamed.length + (await medplum.searchResources('Observation', { 'device:missing': 'true', _count: '1000' })).length).toBe(
    stats.observations,
  );
  const devices: Device[] = await medplum.searchResources('Device', { _count: '100' });
  expect(devices).toHaveLength(stats.wearables);
  const followUps: ServiceRequest[] = await medplum.searchResources('ServiceRequest', { _count: '100' });
  expect(followUps).toHaveLength(stats.followUps);
  // A whole simulated shift through the bots: ~12 s on a quiet 2-core machine, more under load.
}, 90_000);

test('the README tour example message (npm run hl7:send) is accepted and registers the patient', async () => {
  const client = new MllpClient({ host: '127.0.0.1', port: stack.port });
  try {
    const ack = (await client.send(toEr7(readFileSync(new URL('./examples/adt-a04.hl7', import.meta.url), 'utf8')))).toString('utf8');
    expect(ack).toMatch(/\rMSA\|AA\|TOUR0001/);
  } finally {
    client.close();
  }
  const encounter = await waitFor("the tour patient's Encounter", async () => {
    const found: Encounter[] = await stack.t.medplum.searchResources('Encounter', { 'subject:Patient.identifier': 'T1000' });
    return found[0];
  });
  expect(encounter.reasonCode?.[0].text ?? encounter.reasonCode?.[0].coding?.[0].display).toMatch(/Cough/);
});

test('without a reachable bridge the desk registers the HL7 arrivals instead', async () => {
  const stats = await runDemo({
    medplum: stack.t.medplum,
    hl7: { host: '127.0.0.1', port: await freePort() },
    seed: 5,
    speed: 3600,
    durationMinutes: 60,
    arrivalsPerHour: 20,
    syntheticPatients: 0,
  });
  expect(stats.errors).toEqual([]);
  expect(stats.arrivals).toBeGreaterThan(5);
  expect(stats.viaHl7).toBe(0);
  expect(stats.encounters).toHaveLength(stats.arrivals);
});
