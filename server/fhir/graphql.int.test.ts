import type { Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch } from '../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
beforeAll(async () => {
  // Building FhirRouter's GraphQL schema takes seconds of CPU: do it at start (as production does)
  // rather than inside the first test.
  t = await startTestServer({ graphqlWarmup: true });
});
afterAll(async () => {
  await t?.close();
});

describe('$graphql through MedplumClient', () => {
  test('list search and reverse references', async () => {
    const family = `Gql${crypto.randomUUID().slice(0, 8)}`;
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family }] });
    await t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'heart rate' },
      subject: { reference: `Patient/${p.id}` },
    });
    const result = await t.medplum.graphql(`{
      PatientList(name: "${family}") {
        id
        name { family }
        ObservationList(_reference: patient) { id code { text } }
      }
    }`);
    expect(result.errors).toBeUndefined();
    const patients = result.data.PatientList;
    expect(patients).toHaveLength(1);
    expect(patients[0].id).toBe(p.id);
    expect(patients[0].name[0].family).toBe(family);
    expect(patients[0].ObservationList.map((o: Observation) => o.code?.text)).toEqual(['heart rate']);

    const single = await t.medplum.graphql(`{ Patient(id: "${p.id}") { id name { family } } }`);
    expect(single.data.Patient.name[0].family).toBe(family);
  });

  test('bad queries are 400 OperationOutcomes', async () => {
    const queries = [{ query: '{ PatientList(' }, { query: '{ NoSuchTypeList { id } }' }, { nope: 1 }];
    for (const body of queries) {
      const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '$graphql', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });
});
