import type { Binary, Bundle, DocumentReference, OperationOutcome } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch } from '../../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../../test/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** Every byte value, so any re-encoding on the way shows up. */
function allBytes(length = 4096): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + 3) % 256);
}

async function bytesOf(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

describe('raw Binary through MedplumClient', () => {
  test('createBinary then download returns the exact bytes and content type', async () => {
    const data = allBytes();
    const binary = await t.medplum.createBinary({ data, contentType: 'image/png' });
    expect(binary.resourceType).toBe('Binary');
    expect(binary.contentType).toBe('image/png');
    expect(binary.url).toBe(`${t.fhirUrl}Binary/${binary.id}`);
    expect(binary.meta?.versionId).toBeTruthy();

    const blob = await t.medplum.download(binary.url as string);
    expect(blob.type).toBe('image/png');
    expect(await bytesOf(blob)).toEqual(data);
    // The same through a Binary/{id} URL and a plain GET with Accept: */*.
    expect(await bytesOf(await t.medplum.download(`Binary/${binary.id}`))).toEqual(data);
    const res = await fetch(`${t.fhirUrl}Binary/${binary.id}`, { headers: { accept: '*/*', authorization: t.authorization } });
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('etag')).toBe(`W/"${binary.meta?.versionId}"`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(data);

    // Read as a FHIR resource, the content comes base64-encoded in `data`.
    const asResource = await t.medplum.readResource('Binary', binary.id as string);
    expect(asResource.contentType).toBe('image/png');
    expect(Buffer.from(asResource.data as string, 'base64')).toEqual(Buffer.from(data));
  });

  test('createAttachment with arbitrary content types', async () => {
    const cases: [string, Uint8Array | string][] = [
      ['application/pdf', allBytes(10_000)],
      ['text/plain; charset=utf-8', 'Grüße, 你好 🚑\n'],
      ['application/json', '{"not": "a FHIR resource"'],
      ['application/fhir+json', '{"resourceType":"Patient","note":"stored as content, not as a Patient"}'],
      ['application/x-custom-thing', new Uint8Array([0, 0, 0, 255])],
      ['text/csv', ''],
    ];
    for (const [contentType, data] of cases) {
      const attachment = await t.medplum.createAttachment({ data, contentType, filename: 'file.bin' });
      expect(attachment.contentType, contentType).toBe(contentType);
      expect(attachment.title).toBe('file.bin');
      const blob = await t.medplum.download(attachment.url as string);
      const expected = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      expect(await bytesOf(blob), contentType).toEqual(expected);
      expect(blob.type.replace(/\s/g, '').toLowerCase(), contentType).toBe(contentType.replace(/\s/g, '').toLowerCase());
    }
    // Content that looks like a Patient was not stored as one.
    expect(await t.medplum.searchResources('Patient', '_count=100')).toHaveLength(0);
  });

  test('an attachment is usable from another resource', async () => {
    const attachment = await t.medplum.createAttachment({ data: 'note', contentType: 'text/plain' });
    const doc = await t.medplum.createResource<DocumentReference>({
      resourceType: 'DocumentReference',
      status: 'current',
      content: [{ attachment }],
    });
    const url = doc.content?.[0]?.attachment?.url as string;
    expect(await (await t.medplum.download(url)).text()).toBe('note');
  });

  test('PUT with new bytes makes a new version, and each version keeps its own bytes', async () => {
    const first = await t.medplum.createBinary({ data: 'one', contentType: 'text/plain' });
    const put = await fhirFetch<Binary>(t.fhirUrl, 'PUT', `Binary/${first.id}`, { raw: 'two', headers: { 'content-type': 'text/plain' } });
    expect(put.status).toBe(200);
    expect(put.body.meta?.versionId).not.toBe(first.meta?.versionId);
    expect(await (await t.medplum.download(`Binary/${first.id}`)).text()).toBe('two');
    const history = await t.medplum.readHistory('Binary', first.id as string);
    expect(history.entry).toHaveLength(2);
  });

  test('FHIR JSON Binary with base64 data', async () => {
    const data = Buffer.from('hello from JSON').toString('base64');
    const created = await t.medplum.createResource<Binary>({ resourceType: 'Binary', contentType: 'text/plain', data });
    expect(created.data).toBe(data);
    const blob = await t.medplum.download(`Binary/${created.id}`);
    expect(await blob.text()).toBe('hello from JSON');
    expect(blob.type).toBe('text/plain');
    const read = await t.medplum.readResource('Binary', created.id as string);
    expect(read.data).toBe(data);
    // Updating it as FHIR JSON works as for any resource.
    const updated = await t.medplum.updateResource<Binary>({ ...read, data: Buffer.from('v2').toString('base64') });
    expect(await (await t.medplum.download(`Binary/${updated.id}`)).text()).toBe('v2');
    // An invalid FHIR JSON Binary is a validation error.
    const invalid = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Binary', { body: { resourceType: 'Binary', data: 'x' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.issue?.some((i) => i.expression?.includes('Binary.contentType'))).toBe(true);
  });

  test('upload is one transaction: the resource and its bytes exist together or not at all', async () => {
    const binary = await t.medplum.createBinary({ data: allBytes(100), contentType: 'application/octet-stream' });
    const db = new pg.Client({ connectionString: t.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT count(*)::int AS n FROM binary_content WHERE id = $1', [binary.id]);
      expect(rows[0].n).toBe(1);
      // Make storing the bytes fail (a test-only trigger) after the Binary resource row was written:
      // the resource must roll back with them.
      await db.query(`CREATE FUNCTION fail_upload() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'storage failure'; END $$`);
      await db.query(`CREATE TRIGGER fail_upload BEFORE INSERT ON binary_content
        FOR EACH ROW WHEN (NEW.content_type = 'application/x-fail') EXECUTE FUNCTION fail_upload()`);
      const count = async () =>
        (
          await db.query(
            "SELECT (SELECT count(*) FROM binary_content)::int AS b, (SELECT count(*) FROM resource WHERE resource_type = 'Binary')::int AS r",
          )
        ).rows[0];
      const before = await count();
      const failed = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Binary', {
        raw: 'lost',
        headers: { 'content-type': 'application/x-fail' },
      });
      expect(failed.status).toBe(500);
      expect(failed.body.resourceType).toBe('OperationOutcome');
      expect(failed.text).not.toMatch(/storage failure|at .*\.ts/);
      expect(await count()).toEqual(before);
    } finally {
      await db.end();
    }
  });

  test('without a Content-Type the bytes are application/octet-stream', async () => {
    const res = await fetch(`${t.fhirUrl}Binary`, {
      method: 'POST',
      body: new Uint8Array([1, 2, 3]),
      headers: { authorization: t.authorization },
    });
    expect(res.status).toBe(201);
    const binary = (await res.json()) as Binary;
    expect(binary.contentType).toBe('application/octet-stream');
    expect(await bytesOf(await t.medplum.download(`Binary/${binary.id}`))).toEqual(new Uint8Array([1, 2, 3]));
  });

  test('type history of Binary', async () => {
    const b = await t.medplum.createBinary({ data: 'h', contentType: 'text/plain' });
    const history = await fhirFetch<Bundle>(t.fhirUrl, 'GET', 'Binary/_history?_count=1');
    expect(history.status).toBe(200);
    expect(history.body.entry?.[0]?.resource?.id).toBe(b.id);
  });

  test('missing and deleted Binaries', async () => {
    expect(
      (await fetch(`${t.fhirUrl}Binary/${crypto.randomUUID()}`, { headers: { accept: '*/*', authorization: t.authorization } })).status,
    ).toBe(404);
    const b = await t.medplum.createBinary({ data: 'x', contentType: 'text/plain' });
    await t.medplum.deleteResource('Binary', b.id as string);
    const res = await fetch(`${t.fhirUrl}Binary/${b.id}`, { headers: { accept: '*/*', authorization: t.authorization } });
    expect(res.status).toBe(410);
    expect((await res.json()).resourceType).toBe('OperationOutcome');
    // A Content-Type that is not a media type at all is refused before anything is stored.
    const bad = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Binary', { raw: 'x', headers: { 'content-type': 'not a type' } });
    expect(bad.status).toBe(415);
    expect(bad.body.resourceType).toBe('OperationOutcome');
  });
});
