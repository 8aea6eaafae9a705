// Benchmark credentials: the server bootstraps its admin client from ADMIN_CLIENT_ID/SECRET on the
// first start of a database; the benchmark then signs in with client_credentials like any client.
import { randomBytes } from 'node:crypto';
import type { AccessPolicy, Bundle } from '@medplum/fhirtypes';
import type pg from 'pg';
import { ROLE_SYSTEM } from '../../../server/auth/admin.ts';
import { migrate } from '../../../server/db/migrate.ts';
import { onCleanup } from './cleanup.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName, withClient } from './pg.ts';

export interface BenchCredentials {
  clientId: string;
  clientSecret: string;
}

/**
 * Environment for the server child: first-start admin client, and request rate limits lifted
 * (the defaults, 60,000/min per IP and per client, would cap a single-machine load test at 1,000/s).
 */
export function serverEnv(creds: BenchCredentials): Record<string, string> {
  return {
    ADMIN_CLIENT_ID: creds.clientId,
    ADMIN_CLIENT_SECRET: creds.clientSecret,
    RATE_LIMIT_PER_IP: '1000000000',
    RATE_LIMIT_PER_CLIENT: '1000000000',
  };
}

/**
 * Credentials for a database: BENCH_CLIENT_ID/BENCH_CLIENT_SECRET when given; otherwise the ones
 * this benchmark stored in the database earlier (bench_credentials), or new random ones stored there
 * so a kept database can be reused by later runs.
 */
export async function credentialsFor(databaseUrl: string): Promise<BenchCredentials> {
  if (process.env.BENCH_CLIENT_ID && process.env.BENCH_CLIENT_SECRET) {
    return { clientId: process.env.BENCH_CLIENT_ID, clientSecret: process.env.BENCH_CLIENT_SECRET };
  }
  return withClient(databaseUrl, async (c: pg.Client) => {
    await c.query('CREATE TABLE IF NOT EXISTS bench_credentials (client_id text NOT NULL, client_secret text NOT NULL)');
    const { rows } = await c.query<{ client_id: string; client_secret: string }>(
      'SELECT client_id, client_secret FROM bench_credentials LIMIT 1',
    );
    if (rows[0]) {
      return { clientId: rows[0].client_id, clientSecret: rows[0].client_secret };
    }
    const creds = { clientId: 'emergisphere-bench-client', clientSecret: randomBytes(32).toString('hex') };
    await c.query('INSERT INTO bench_credentials (client_id, client_secret) VALUES ($1, $2)', [creds.clientId, creds.clientSecret]);
    return creds;
  });
}

/** A bearer token for the client, or undefined when the server has no token endpoint (no auth). */
export async function accessToken(baseUrl: string, creds: BenchCredentials): Promise<string | undefined> {
  const res = await fetch(`${baseUrl}oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: creds.clientId,
      client_secret: creds.clientSecret,
    }).toString(),
  });
  if (res.status === 404) {
    return undefined;
  }
  const body = (await res.json()) as { access_token?: string; error_description?: string };
  if (!res.ok || !body.access_token) {
    throw new Error(
      `could not sign in as ${creds.clientId}: ${res.status} ${body.error_description ?? ''} ` +
        '(a database bootstrapped earlier with other credentials needs BENCH_CLIENT_ID and BENCH_CLIENT_SECRET)',
    );
  }
  return body.access_token;
}

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A token of a new client bound to a shipped role's AccessPolicy, created through the admin API. */
export async function roleToken(baseUrl: string, adminToken: string | undefined, role: string): Promise<string> {
  const headers = { ...authHeaders(adminToken), 'content-type': 'application/json' };
  const call = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${baseUrl}${path}`, { ...init, headers });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const me = await call<{ project: { id: string } }>('auth/me');
  const policies = await call<Bundle<AccessPolicy>>(`fhir/R4/AccessPolicy?_tag=${encodeURIComponent(`${ROLE_SYSTEM}|${role}`)}`);
  const policy = policies.entry?.[0]?.resource;
  if (!policy?.id) throw new Error(`no AccessPolicy for role ${role}`);
  const client = await call<{ id: string; secret: string }>(`admin/projects/${me.project.id}/client`, {
    method: 'POST',
    body: JSON.stringify({ name: `bench ${role}`, accessPolicy: { reference: `AccessPolicy/${policy.id}` } }),
  });
  const token = await accessToken(baseUrl, { clientId: client.id, clientSecret: client.secret });
  if (!token) throw new Error(`no token for the ${role} client`);
  return token;
}

/** A new scratch database (dropped when the benchmark ends), migrated, with the credentials its server will bootstrap. */
export async function scratchServerDatabase(prefix: string): Promise<{ name: string; databaseUrl: string; creds: BenchCredentials }> {
  const name = scratchName(prefix);
  const databaseUrl = await createDatabase(ADMIN_URL, name);
  onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));
  await migrate(databaseUrl);
  return { name, databaseUrl, creds: await credentialsFor(databaseUrl) };
}
