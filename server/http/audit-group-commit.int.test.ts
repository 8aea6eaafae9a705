import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import type { AuditLog } from '../audit/audit-log.ts';

// The audit group commit waits for the events of audited requests under way (AuditLog.expectEvent).
// A request that ended without settling its expectation would make every later batch wait its full
// delay: this checks that every way a request can end settles it exactly once.
let t: TestServer;
let underWay = 0;
let settledTooOften = 0;

beforeAll(async () => {
  t = await startTestServer(
    {},
    {
      start: {
        security: (real) => {
          const audit = Object.create(real.audit) as AuditLog;
          audit.expectEvent = () => {
            underWay++;
            real.audit.expectEvent();
          };
          audit.eventSettled = () => {
            if (underWay === 0) settledTooOften++;
            else underWay--;
            real.audit.eventSettled();
          };
          return { ...real, audit };
        },
      },
    },
  );
});

afterAll(async () => {
  await t.close();
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
}

test('every audited request settles its expected event once: answered, refused, failed or aborted', async () => {
  const patient = await t.medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Settle' }] });
  await t.medplum.readResource('Patient', patient.id as string);
  const headers = { authorization: t.authorization, 'content-type': 'application/fhir+json' };
  expect((await fetch(`${t.fhirUrl}Patient/does-not-exist`, { headers })).status).toBe(404);
  expect((await fetch(`${t.fhirUrl}Patient`, { method: 'POST', headers, body: '{not json' })).status).toBe(400);
  expect((await fetch(`${t.fhirUrl}Patient`, { headers: { authorization: 'Bearer forged.token.value' } })).status).toBe(401);
  expect((await fetch(`${t.fhirUrl}Patient`)).status).toBe(401);
  // Not audited: the CapabilityStatement.
  expect((await fetch(`${t.fhirUrl}metadata`)).status).toBe(200);

  // A client that sends half a request body and hangs up.
  const url = new URL(t.fhirUrl);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `POST ${url.pathname}Patient HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${t.authorization}\r\n` +
          'Content-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{"resourceType":',
      );
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 100);
    });
    socket.on('error', reject);
  });

  await until(() => underWay === 0);
  expect(underWay).toBe(0);
  expect(settledTooOften).toBe(0);
});
