import { afterAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function hammer(t: TestServer, n: number): Promise<Response[]> {
  const out: Response[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await fetch(`${t.fhirUrl}Patient?_count=1`, { headers: { authorization: t.authorization } }));
  }
  return out;
}

describe('rate limits', () => {
  test('per-IP limit in process: 429 with Retry-After and an OperationOutcome', async () => {
    const t = await startTestServer({
      rateLimits: { perIpPerMinute: 15, perClientPerMinute: 1000, loginFailuresPerEmail: 5, loginFailuresPerIp: 50 },
    });
    servers.push(t);
    const responses = await hammer(t, 18);
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    const limited = responses.at(-1) as Response;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.json()).resourceType).toBe('OperationOutcome');
  });

  test('per-client limit', async () => {
    const t = await startTestServer({
      rateLimits: { perIpPerMinute: 1000, perClientPerMinute: 10, loginFailuresPerEmail: 5, loginFailuresPerIp: 50 },
    });
    servers.push(t);
    const statuses = (await hammer(t, 12)).map((r) => r.status);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  test.skipIf(!process.env.REDIS_URL)('with Redis, two instances share one limit', async () => {
    // The admin client id is random per database, so other runs sharing this Redis do not interfere.
    const limits = { perIpPerMinute: 1000, perClientPerMinute: 10, loginFailuresPerEmail: 5, loginFailuresPerIp: 50 };
    const a = await startTestServer({ redisUrl: process.env.REDIS_URL, rateLimits: limits });
    servers.push(a);
    const b = await startTestServer(
      { redisUrl: process.env.REDIS_URL, rateLimits: limits },
      { databaseUrl: a.databaseUrl, keepDatabase: true, clientSecret: a.admin.clientSecret },
    );
    servers.push(b);
    // Both use the same admin client: its requests count against one shared budget.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await hammer(a, 1))[0].status, (await hammer(b, 1))[0].status);
    }
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
  });

  test.skipIf(!process.env.REDIS_URL)('with Redis, servers of another database keep their own per-IP limit', async () => {
    // Every test server calls from 127.0.0.1: one key for all of them unless deployments are apart.
    const limits = { perIpPerMinute: 12, perClientPerMinute: 1000, loginFailuresPerEmail: 5, loginFailuresPerIp: 50 };
    const a = await startTestServer({ redisUrl: process.env.REDIS_URL, rateLimits: limits });
    servers.push(a);
    const statuses = (await hammer(a, 14)).map((r) => r.status);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    const other = await startTestServer({ redisUrl: process.env.REDIS_URL, rateLimits: limits });
    servers.push(other);
    expect((await hammer(other, 3)).map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe('security headers and CORS', () => {
  test('responses carry security headers; CORS allows the configured origin only', async () => {
    const t = await startTestServer({ corsOrigins: ['https://app.example.org'] });
    servers.push(t);
    const res = await fetch(`${t.fhirUrl}metadata`, { headers: { origin: 'https://app.example.org' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toBeTruthy();
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
    const other = await fetch(`${t.fhirUrl}metadata`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${t.fhirUrl}Patient`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.org',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
  });
});
