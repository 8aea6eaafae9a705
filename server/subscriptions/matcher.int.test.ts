import { parseSearchRequest } from '@medplum/core';
import type { Communication } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { compileMemoryCriteria, matchesInMemory } from './matcher.ts';

// Criteria matched in memory must agree with the search the same criteria run (the SQL path).

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('reference criteria matched in memory', () => {
  test('agree with search for local references, bare ids, :not and lists, on every version', async () => {
    const doctor = crypto.randomUUID();
    const other = crypto.randomUUID();
    const patient = crypto.randomUUID();
    const make = (c: Partial<Communication>) =>
      t.medplum.createResource<Communication>({ resourceType: 'Communication', status: 'completed', ...c });
    const communications = await Promise.all([
      make({ recipient: [{ reference: `Practitioner/${doctor}` }], subject: { reference: `Patient/${patient}` } }),
      make({ recipient: [{ reference: `Practitioner/${other}` }, { reference: `Practitioner/${doctor}/_history/2` }] }),
      make({ recipient: [{ reference: `Patient/${doctor}` }] }),
      make({ recipient: [{ reference: `${t.fhirUrl}Practitioner/${doctor}` }] }),
      make({ recipient: [{ display: 'nobody' }], subject: { reference: `Patient/${other}` } }),
      make({}),
    ]);
    const criteria = [
      `recipient=Practitioner/${doctor}`,
      `recipient=${doctor}`,
      `recipient=Practitioner/${doctor},Practitioner/${other}`,
      `recipient:not=Practitioner/${doctor}`,
      `subject=${patient}`,
      `subject=Patient/${patient}&recipient=Practitioner/${doctor}`,
      `subject:not=Patient/${other}&status=completed`,
    ];
    const ids = communications.map((c) => c.id as string);
    for (const q of criteria) {
      const search = parseSearchRequest(`Communication?${q}`);
      const memory = compileMemoryCriteria('Communication', search.filters ?? []);
      expect(memory, q).toBeDefined();
      const found = new Set(
        (await t.medplum.searchResources('Communication', `${q}&_id=${ids.join(',')}&_count=100`, { cache: 'no-cache' })).map((c) => c.id),
      );
      for (const c of communications) {
        expect(matchesInMemory(memory ?? [], c), `${q} on ${JSON.stringify(c.recipient ?? c.subject ?? {})}`).toBe(found.has(c.id));
      }
    }
  });

  test('absolute URLs, :identifier and :missing are left to SQL', () => {
    for (const q of [
      `recipient=${'http://elsewhere.example/fhir/Practitioner/1'}`,
      'recipient:identifier=urn:x|1',
      'recipient:missing=true',
    ]) {
      expect(compileMemoryCriteria('Communication', parseSearchRequest(`Communication?${q}`).filters ?? []), q).toBeUndefined();
    }
  });
});
