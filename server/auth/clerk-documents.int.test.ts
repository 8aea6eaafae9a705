/** A registration clerk sees identity and insurance documents, never clinical notes (issue 9's access rule). */
import { MedplumClient, type WithId } from '@medplum/core';
import type { DocumentReference, Project } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createUser } from './admin.ts';

const TYPES = 'https://emergisphere.dev/fhir/CodeSystem/document-type';
let t: TestServer;
let clerk: MedplumClient;

beforeAll(async () => {
  t = await startTestServer();
  await createUser(t.server.app.repo(), t.server.bootstrap.project as WithId<Project>, {
    email: 'desk@h.example',
    password: 'correct horse battery staple',
    firstName: 'Front',
    lastName: 'Desk',
    role: 'registration-clerk',
  });
  clerk = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
  const login = await clerk.startLogin({ email: 'desk@h.example', password: 'correct horse battery staple' });
  await clerk.processCode(login.code as string);
});

afterAll(async () => {
  await t?.close();
});

const doc = (type: DocumentReference['type']): DocumentReference => ({
  resourceType: 'DocumentReference',
  status: 'current',
  type,
  content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('x').toString('base64') } }],
});

test('ID cards and insurance cards are readable and writable by the clerk; a clinical note is not', async () => {
  const idCard = await clerk.createResource(doc({ coding: [{ system: TYPES, code: 'id-card' }] }));
  const insurance = await t.medplum.createResource(doc({ coding: [{ system: TYPES, code: 'insurance-card' }] }));
  const note = await t.medplum.createResource(doc({ coding: [{ system: 'http://loinc.org', code: '34111-5', display: 'ED note' }] }));
  const seen = (await clerk.searchResources('DocumentReference', { _count: '100' }, { cache: 'no-cache' })).map((d) => d.id);
  expect(seen).toEqual(expect.arrayContaining([idCard.id, insurance.id]));
  expect(seen).not.toContain(note.id);
  await expect(clerk.readResource('DocumentReference', note.id, { cache: 'no-cache' })).rejects.toThrow();
  await expect(clerk.createResource(doc({ coding: [{ system: 'http://loinc.org', code: '34111-5' }] }))).rejects.toThrow();
});
