import { isOk } from '@medplum/core';
import { FhirRouter, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { installSearchRoutes } from './routes.ts';
import { outcomeText, SearchKit } from './search-test-kit.ts';

let t: TestServer;
let k: SearchKit;
let router: FhirRouter;

/** A request through a FhirRouter with our search routes installed, on the real repository. */
async function handle(method: HttpMethod, url: string, body?: Record<string, string>): Promise<[OperationOutcome, Bundle | undefined]> {
  const [outcome, resource] = await router.handleRequest(
    { method, url, pathname: '', params: {}, query: {}, body, headers: {} },
    t.server.app.repo(),
  );
  return [outcome, resource as Bundle | undefined];
}

async function labels(url: string): Promise<string[]> {
  const [outcome, bundle] = await handle('GET', `${url}&_tag=${encodeURIComponent(k.tag)}&_count=100`);
  expect(isOk(outcome), outcomeText(outcome)).toBe(true);
  return k.matchLabels(bundle as Bundle).sort();
}

beforeAll(async () => {
  t = await startTestServer();
  k = new SearchKit(t, 'routes');
  router = new FhirRouter();
  installSearchRoutes(router);
  const obs = (label: string, effectiveDateTime: string, value: number) =>
    k.create<Observation>(label, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'routes' },
      effectiveDateTime,
      valueQuantity: { value, unit: 'mg' },
    });
  await obs('y2023', '2023-06-15T10:00:00Z', 1);
  await obs('mar10', '2024-03-10T10:00:00Z', 5);
  await obs('dec31', '2024-12-31T10:00:00Z', 10);
  await k.create<Patient>('born1990', { resourceType: 'Patient', birthDate: '1990-05-05' });
});

afterAll(async () => {
  await t?.close();
});

describe('search routes parse date OR lists that core refuses', () => {
  test('core alone refuses a comma in a date value', async () => {
    const [outcome] = await new FhirRouter().handleRequest(
      { method: 'GET', url: 'Observation?date=2023,2024-03-10', pathname: '', params: {}, query: {}, body: undefined, headers: {} },
      t.server.app.repo(),
    );
    expect(isOk(outcome)).toBe(false);
  });

  test('OR lists of dates, each value with its own prefix', async () => {
    expect(await labels('Observation?date=2023,2024-03-10')).toEqual(['mar10', 'y2023']);
    expect(await labels('Observation?date=ge2024-12,lt2023-07')).toEqual(['dec31', 'y2023']);
    expect(await labels('Observation?date=lt2024,2024-12-31')).toEqual(['dec31', 'y2023']);
    expect(await labels('Observation?date=ge2024&date=lt2024-06')).toEqual(['mar10']);
    expect(await labels('Observation?_lastUpdated=gt2000,lt1990')).toEqual(['dec31', 'mar10', 'y2023']);
    expect(await labels('Observation?value-quantity=lt2,gt9')).toEqual(['dec31', 'y2023']);
  });

  test('other parameters are parsed as core does', async () => {
    expect(await labels('Observation?code:text=routes&date:missing=false')).toEqual(['dec31', 'mar10', 'y2023']);
    expect(await labels('Patient?birthdate=1990')).toEqual(['born1990']);
  });

  test('system search and POST _search go through the same parser', async () => {
    expect(await labels('?_type=Observation,Patient&_lastUpdated=gt2000,lt1990')).toEqual(['born1990', 'dec31', 'mar10', 'y2023']);
    const [outcome, bundle] = await handle('POST', 'Observation/_search', { date: '2023,2024-12', _tag: k.tag });
    expect(isOk(outcome), outcomeText(outcome)).toBe(true);
    expect(k.matchLabels(bundle as Bundle).sort()).toEqual(['dec31', 'y2023']);
  });

  test('a reference type modifier narrows the type; an unknown modifier is a 400', async () => {
    const [, patient] = await handle('GET', `Patient?_tag=${encodeURIComponent(k.tag)}`);
    const id = (patient?.entry?.[0]?.resource?.id ?? '') as string;
    await k.create<Observation>('aboutPatient', {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'm' },
      subject: { reference: `Patient/${id}` },
    });
    expect(await labels(`Observation?subject:Patient=${id}`)).toEqual(['aboutPatient']);
    expect(await labels(`Observation?subject:Group=${id}`)).toEqual([]);
    const [outcome] = await handle('GET', 'Patient?name:sounds-like=x');
    expect(outcome.issue?.[0]?.code).toBe('invalid');
    expect(outcomeText(outcome)).toContain('sounds-like');
  });

  test('invalid dates are a 400 naming the parameter', async () => {
    for (const url of [
      'Patient?birthdate=2024-13-45',
      'Patient?birthdate=1990,yesterday',
      'Observation?_lastUpdated=soon',
      'Patient?birthdate=gt',
    ]) {
      const [outcome] = await handle('GET', url);
      expect(outcome.issue?.[0]?.code, url).toBe('invalid');
      const param = url.split('?')[1].split('=')[0];
      expect(outcomeText(outcome), url).toContain(param);
    }
  });
});
