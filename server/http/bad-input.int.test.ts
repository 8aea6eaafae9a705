import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fhirFetch, type HttpResult, issueTexts } from '../../test/fhir-http.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';

const MAX_BODY = 256 * 1024;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ maxBodyBytes: MAX_BODY, maxJsonDepth: 64 });
});
afterAll(async () => {
  await t?.close();
});

// Anything that looks like a stack frame or a source location must never reach a client.
const STACK = /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+/;

/** A 4xx OperationOutcome without internals, and the server still answering afterwards. */
async function expectOutcome(res: HttpResult<OperationOutcome>, status: number, text?: RegExp): Promise<void> {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  expect(res.body?.resourceType, res.text).toBe('OperationOutcome');
  expect(res.body.issue?.[0]?.severity).toBe('error');
  expect(res.text).not.toMatch(STACK);
  if (text) {
    expect(issueTexts(res.body).join(' | ')).toMatch(text);
  }
  await expectAlive();
}

async function expectAlive(): Promise<void> {
  const health = await fetch(`${t.baseUrl}healthcheck`);
  expect(health.status).toBe(200);
}

function raw(method: string, path: string, body: string, contentType = 'application/fhir+json'): Promise<HttpResult<OperationOutcome>> {
  return fhirFetch<OperationOutcome>(t.fhirUrl, method, path, { raw: body, headers: { 'content-type': contentType } });
}

/** A request with a literal path (bypassing fetch's URL normalisation of "/../") and no default headers. */
function literal(method: string, path: string, body?: string): Promise<{ status: number; text: string; contentType?: string }> {
  const url = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { authorization: t.authorization } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('malformed bodies', () => {
  test('malformed JSON → 400', async () => {
    await expectOutcome(await raw('POST', 'Patient', '{"resourceType": "Patient",'), 400, /malformed json/i);
    await expectOutcome(await raw('POST', 'Patient', "{'resourceType': 'Patient'}"), 400, /malformed json/i);
    await expectOutcome(await raw('PUT', 'Patient/x', '{"resourceType": "Patient", "id": "x"} trailing'), 400, /malformed json/i);
  });

  test('empty body where one is needed → 400', async () => {
    await expectOutcome(await raw('POST', 'Patient', ''), 400, /body/i);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'PUT', 'Patient/x'), 400, /body/i);
  });

  test('non-object JSON bodies → 400', async () => {
    for (const body of ['[]', '"x"', 'null', '42', 'true']) {
      await expectOutcome(await raw('POST', 'Patient', body), 400, /must be a JSON object/);
      await expectOutcome(await raw('PUT', 'Patient/x', body), 400, /must be a JSON object/);
      await expectOutcome(await raw('POST', '', body), 400, /must be a JSON object/);
    }
    for (const body of ['"x"', 'null', '42']) {
      await expectOutcome(await raw('PATCH', 'Patient/x', body, 'application/json-patch+json'), 400, /JSON Patch/);
    }
  });

  test('deeply nested JSON → 400 without recursion', async () => {
    expect(100_000).toBeLessThan(MAX_BODY);
    await expectOutcome(await raw('POST', 'Patient', '['.repeat(100_000)), 400, /nesting deeper than 64/);
    await expectOutcome(await raw('POST', 'Patient', '{"a":'.repeat(2000) + '1' + '}'.repeat(2000)), 400, /nesting/);
    // Brackets inside strings do not count.
    const p = await raw('POST', 'Patient', JSON.stringify({ resourceType: 'Patient', name: [{ text: '['.repeat(1000) }] }));
    expect(p.status).toBe(201);
  });

  test('body over the configured limit → 413', async () => {
    const big = JSON.stringify({ resourceType: 'Patient', name: [{ text: 'x'.repeat(MAX_BODY + 1) }] });
    await expectOutcome(await raw('POST', 'Patient', big), 413, new RegExp(`${MAX_BODY} bytes`));
    const bigBinary = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Binary', {
      raw: new Uint8Array(MAX_BODY * 3),
      headers: { 'content-type': 'application/octet-stream' },
    });
    await expectOutcome(bigBinary, 413);
  });
});

describe('content types', () => {
  test('text/plain to a FHIR endpoint → 415', async () => {
    await expectOutcome(await raw('POST', 'Patient', '{"resourceType":"Patient"}', 'text/plain'), 415, /text\/plain/);
    await expectOutcome(await raw('PUT', 'Patient/x', '{}', 'application/xml'), 415);
  });

  test('form-encoded only for _search', async () => {
    await expectOutcome(await raw('POST', 'Patient', 'name=x', 'application/x-www-form-urlencoded'), 415, /_search/);
    const search = await raw('POST', 'Patient/_search', 'name=nobody', 'application/x-www-form-urlencoded');
    expect(search.status).toBe(200);
  });

  test('a body without Content-Type → 415', async () => {
    const res = await literal('POST', '/fhir/R4/Patient', '{"resourceType":"Patient"}');
    expect(res.status).toBe(415);
    expect(JSON.parse(res.text).resourceType).toBe('OperationOutcome');
  });

  test('an unparseable Content-Type → 415', async () => {
    await expectOutcome(await raw('POST', 'Patient', '{}', 'not a type'), 415);
  });
});

describe('resource types and ids', () => {
  test('unknown resource type in the URL → 404 for every interaction', async () => {
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Foo/1'), 404, /Unknown resource type "Foo"/);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Foo?name=x'), 404, /Foo/);
    await expectOutcome(await raw('POST', 'Foo', '{"resourceType":"Foo"}'), 404, /Foo/);
    await expectOutcome(await raw('PUT', 'Foo/1', '{"resourceType":"Foo","id":"1"}'), 404, /Foo/);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'DELETE', 'patient/1'), 404, /patient/);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Foo/1/_history'), 404, /Foo/);
  });

  test('unknown resource type in the body, or a mismatch with the URL → 400', async () => {
    await expectOutcome(await raw('POST', 'Patient', '{"resourceType":"Foo"}'), 400, /Foo/);
    await expectOutcome(await raw('POST', 'Patient', '{"name":[{"family":"x"}]}'), 400, /resource type/i);
    await expectOutcome(
      await raw('POST', 'Patient', '{"resourceType":"Observation","status":"final","code":{"text":"x"}}'),
      400,
      /Observation/,
    );
    await expectOutcome(await raw('PUT', 'Patient/abc', '{"resourceType":"Observation","id":"abc"}'), 400, /resource type/i);
    await expectOutcome(await raw('PUT', 'Patient/abc', '{"resourceType":"Patient","id":"xyz"}'), 400, /resource ID/i);
    await expectOutcome(await raw('PUT', 'Patient/abc', '{"resourceType":"Patient"}'), 400, /resource ID/i);
  });

  test('odd ids', async () => {
    const long = 'a'.repeat(200);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/${long}`), 404);
    await expectOutcome(await raw('PUT', `Patient/${long}`, JSON.stringify({ resourceType: 'Patient', id: long })), 400, /Invalid id/);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient/%00'), 404);
    await expectOutcome(await raw('PUT', 'Patient/%00', JSON.stringify({ resourceType: 'Patient', id: '\u0000' })), 400);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient/a%20b'), 404);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient/%E2%82%AC'), 404);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient/..%2F..%2Fetc'), 404);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Patient/%'), 400, /URL/);
    await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', 'Binary/%'), 400, /URL/);
    for (const path of ['/fhir/R4/Patient/../../etc', '/fhir/R4/Patient/../../../etc/passwd', '/fhir/R4/Binary/..%2f..%2fetc']) {
      const res = await literal('GET', path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(JSON.parse(res.text).resourceType).toBe('OperationOutcome');
    }
  });

  test('invalid version ids in vread → 404', async () => {
    const p = await t.medplum.createResource<Patient>({ resourceType: 'Patient' });
    for (const vid of ['1', 'abc', 'x'.repeat(300), '%00', `${p.meta?.versionId}x`]) {
      await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/${p.id}/_history/${vid}`), 404);
    }
  });
});

describe('query parameters', () => {
  test('invalid _count and _offset → 400', async () => {
    for (const q of ['_count=abc', '_count=-1', '_offset=-1', '_offset=abc', '_count=1.5', '_offset=1e3', '_count=']) {
      await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient?${q}`), 400);
      await expectOutcome(await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Patient/_history?${q}`), 400);
    }
  });

  test('garbage search values never cause a 500', async () => {
    const queries = ['birthdate=notadate', 'birthdate=2024-99-99', '_sort=nonsense', 'name:bogus=x', '_lastUpdated=gt_yesterday'];
    for (const q of [...queries, 'subject:Foo.name=x', 'value-quantity=abc', 'code:nope=x', '_include=Foo:bar', '_total=sometimes']) {
      const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'GET', `Observation?${q}`);
      expect(res.status, q).toBeLessThan(500);
      expect(res.text).not.toMatch(STACK);
    }
    await expectAlive();
  });

  test('conditional create with an unknown criterion is refused instead of matching everything', async () => {
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { 'if-none-exist': 'not-a-param=1' },
    });
    await expectOutcome(res, 400, /not-a-param/);
    const update = await fhirFetch<OperationOutcome>(t.fhirUrl, 'PUT', 'Patient?not-a-param=1', { body: { resourceType: 'Patient' } });
    await expectOutcome(update, 400, /not-a-param/);
    // The same inside a transaction Bundle, where the router resolves conditional references itself.
    const bundle = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'POST', url: 'Patient', ifNoneExist: 'not-a-param=1' }, resource: { resourceType: 'Patient' } }],
      },
    });
    await expectOutcome(bundle, 400, /not-a-param/);
  });
});

describe('methods', () => {
  test('unsupported HTTP methods → 405 with Allow', async () => {
    // OPTIONS is answered by CORS (preflight), so it is not among them.
    for (const method of ['PROPFIND', 'PURGE']) {
      const res = await fhirFetch<OperationOutcome>(t.fhirUrl, method, 'Patient');
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toContain('GET');
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    const trace = await literal('TRACE', '/fhir/R4/Patient');
    expect(trace.status).toBe(405);
    await expectAlive();
  });

  test('a method the URL does not support → 405 with the ones it does', async () => {
    const onInstance = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', `Patient/${crypto.randomUUID()}`, {
      body: { resourceType: 'Patient' },
    });
    expect(onInstance.status).toBe(405);
    expect(onInstance.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'PATCH', 'PUT']);
    const onMetadata = await fhirFetch<OperationOutcome>(t.fhirUrl, 'DELETE', 'metadata');
    expect(onMetadata.status).toBe(405);
    expect(onMetadata.headers.get('allow')).toBe('GET, HEAD');
    const onSystem = await fhirFetch<OperationOutcome>(t.fhirUrl, 'PUT', '', { body: { resourceType: 'Bundle' } });
    expect(onSystem.status).toBe(405);
    expect(onSystem.body.resourceType).toBe('OperationOutcome');
  });

  test('unknown paths → 404 OperationOutcome; HEAD works', async () => {
    const res = await fetch(`${t.baseUrl}nothing/here`, { headers: { authorization: t.authorization } });
    expect(res.status).toBe(404);
    expect((await res.json()).resourceType).toBe('OperationOutcome');
    const head = await fetch(`${t.fhirUrl}metadata`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});

describe('values the database would reject', () => {
  test('a long string is stored and indexed, not a 500', async () => {
    // Random text: PostgreSQL compresses index rows, so a repetitive string would fit anyway.
    const noise = (n: number) => randomBytes(n).toString('hex');
    const family = `Long${noise(4000)}`;
    const p = await fhirFetch<Patient>(t.fhirUrl, 'POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family }] } });
    expect(p.status, p.text).toBe(201);
    expect((await t.medplum.readResource('Patient', p.body.id as string)).name?.[0]?.family).toBe(family);
    const long = await fhirFetch<{ entry?: unknown[] }>(t.fhirUrl, 'GET', `Patient?name=${family.slice(0, 200)}`);
    expect(long.status).toBe(200);
    expect(long.body.entry).toHaveLength(1);
    const token = await fhirFetch(t.fhirUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: `urn:${noise(2000)}`, value: noise(2000) }] },
    });
    expect(token.status, token.text).toBe(201);
  });

  test('dates PostgreSQL cannot hold are 400', async () => {
    const res = await fhirFetch<OperationOutcome>(t.fhirUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient', birthDate: '0001-01-01' },
    });
    expect(res.status).toBeLessThan(500);
    await expectAlive();
  });
});
