import { getDataType, type InternalTypeSchema } from '@medplum/core';
import type { Project, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createUser } from '../auth/admin.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ graphqlWarmup: true });
});
afterAll(async () => {
  await t?.close();
});

const SCHEMA_QUERY = (type: string) => `{
  StructureDefinitionList(_filter: "name eq ${type}") { name kind type url snapshot { element { path min max type { code targetProfile } } } }
  SearchParameterList(base: "${type}", _count: 100) { base code type expression }
}`;

describe('base definitions, searchable as in Medplum', () => {
  test("MedplumClient.requestSchema's GraphQL query gets the base StructureDefinition and SearchParameters", async () => {
    const result = await t.medplum.graphql(SCHEMA_QUERY('Patient'));
    expect(result.errors).toBeUndefined();
    const [sd] = result.data.StructureDefinitionList as StructureDefinition[];
    expect(sd).toMatchObject({ name: 'Patient', kind: 'resource', url: 'http://hl7.org/fhir/StructureDefinition/Patient' });
    expect(sd.snapshot?.element?.some((e) => e.path === 'Patient.telecom')).toBe(true);
    const codes = (result.data.SearchParameterList as SearchParameter[]).map((p) => p.code);
    expect(codes).toEqual(expect.arrayContaining(['name', 'birthdate', 'gender', 'identifier', 'telecom']));
    // And the real client builds its schema from it (what SearchControl and ResourceForm wait for).
    const client = t.newClient();
    await client.requestSchema('Observation');
    expect((getDataType('Observation') as InternalTypeSchema).elements.status).toBeDefined();
  });

  test('a complex datatype and an unknown name', async () => {
    const hit = await t.medplum.graphql(SCHEMA_QUERY('HumanName'));
    expect(hit.data.StructureDefinitionList.map((s: StructureDefinition) => s.kind)).toEqual(['complex-type']);
    const miss = await t.medplum.graphql(SCHEMA_QUERY('NoSuchType'));
    expect(miss.data.StructureDefinitionList).toEqual([]);
    expect(miss.data.SearchParameterList).toEqual([]);
  });

  test('REST search by name and by url; other criteria stay with the database', async () => {
    const byName = await t.medplum.searchResources('StructureDefinition', { name: 'Encounter' }, { cache: 'no-cache' });
    expect(byName.map((s) => s.url)).toEqual(['http://hl7.org/fhir/StructureDefinition/Encounter']);
    const byUrl = await t.medplum.searchResources(
      'StructureDefinition',
      { url: 'http://hl7.org/fhir/StructureDefinition/Flag' },
      { cache: 'no-cache' },
    );
    expect(byUrl.map((s) => s.name)).toEqual(['Flag']);
    const other = await t.medplum.searchResources('StructureDefinition', { name: 'Encounter', status: 'active' }, { cache: 'no-cache' });
    expect(other.length).toBe(0);
    const params = await t.medplum.searchResources('SearchParameter', { base: 'Encounter', code: 'subject' }, { cache: 'no-cache' });
    expect(params.map((p) => p.expression)).toEqual(['Encounter.subject']);
  });

  test('a role that may not search StructureDefinitions still gets the base ones (public specification content)', async () => {
    const project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
    const email = `clerk-${crypto.randomUUID().slice(0, 6)}@example.org`;
    const password = 'clerk password 123';
    await createUser(t.server.app.repo(), project, { email, password, firstName: 'Rita', lastName: 'Desk', role: 'registration-clerk' });
    const clerk = t.anonymousClient();
    const login = await clerk.startLogin({ email, password });
    await clerk.processCode(login.code as string);
    const result = await clerk.graphql(SCHEMA_QUERY('Patient'));
    expect(result.errors).toBeUndefined();
    expect(result.data.StructureDefinitionList.map((s: StructureDefinition) => s.name)).toEqual(['Patient']);
  });
});

describe('base value sets drawing on HL7 v3 code systems', () => {
  test('ValueSet/$expand of marital-status (what ResourceForm asks for a Patient) answers its codes', async () => {
    const expanded = await t.medplum.valueSetExpand({ url: 'http://hl7.org/fhir/ValueSet/marital-status' });
    const codes = expanded.expansion?.contains?.map((c) => c.code);
    expect(codes).toEqual(expect.arrayContaining(['M', 'S', 'W']));
  });
});
