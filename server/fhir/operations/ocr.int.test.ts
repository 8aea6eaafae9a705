import type { Binary, Parameters } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fhirFetch, issueTexts } from '../../../test/fhir-http.ts';
import { renderIdCard } from '../../../test/id-card-image.ts';
import { startTestServer, type TestServer } from '../../../test/server.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
}, 60_000);

afterAll(async () => {
  await t?.close();
});

test('POST Binary/{id}/$ocr reads the text of an image with the bundled English model', async () => {
  const png = await renderIdCard(['DRIVER LICENSE', 'LN MOREAU', 'FN LUC', 'DOB 02/03/1996']);
  const binary = (await t.medplum.createBinary({ data: png, contentType: 'image/png' })) as Binary;
  const result = (await t.medplum.post(t.medplum.fhirUrl('Binary', binary.id as string, '$ocr'), {
    resourceType: 'Parameters',
  })) as Parameters;
  const text = result.parameter?.find((p) => p.name === 'text')?.valueString ?? '';
  expect(text).toContain('MOREAU');
  expect(text).toContain('02/03/1996');
  expect(result.parameter?.find((p) => p.name === 'confidence')?.valueDecimal).toBeGreaterThan(50);
}, 60_000);

test('not an image → 400; no such Binary → 404', async () => {
  const text = (await t.medplum.createBinary({ data: 'hello', contentType: 'text/plain' })) as Binary;
  const notImage = await fhirFetch(t.fhirUrl, 'POST', `Binary/${text.id}/$ocr`, { body: { resourceType: 'Parameters' } });
  expect(notImage.status).toBe(400);
  expect(issueTexts(notImage.body as never).join()).toContain('not an image');
  const missing = await fhirFetch(t.fhirUrl, 'POST', 'Binary/3c9b1a5e-0000-4000-8000-000000000999/$ocr', {
    body: { resourceType: 'Parameters' },
  });
  expect(missing.status).toBe(404);
});
