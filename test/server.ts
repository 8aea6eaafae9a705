import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { MedplumClient } from '@medplum/core';
import pino from 'pino';
import { inject } from 'vitest';
import { loadConfig, type ServerConfig } from '../server/config.ts';
import { type RunningServer, type StartOptions, startServer } from '../server/server.ts';
import { createScratchDatabase } from './database.ts';

export interface TestServer {
  server: RunningServer;
  /** e.g. http://127.0.0.1:41234/ */
  baseUrl: string;
  /** e.g. http://127.0.0.1:41234/fhir/R4/ */
  fhirUrl: string;
  databaseUrl: string;
  /** A real MedplumClient pointed at the server, signed in as the admin client. */
  medplum: MedplumClient;
  /** A new MedplumClient signed in as the admin client (e.g. for concurrent actors). */
  newClient(): MedplumClient;
  /** A MedplumClient that has not signed in. */
  anonymousClient(): MedplumClient;
  /** The first-start credentials and the admin client's current access token. */
  admin: { email: string; password: string; clientId: string; clientSecret: string; accessToken: string; loginId: string };
  /** `Authorization` header value for the admin client. */
  authorization: string;
  close(): Promise<void>;
  /** Drops the database now (for a server started with keepDatabase); a no-op for a reused one. */
  dropDatabase(): Promise<void>;
}

export interface TestServerOptions {
  /** Start on this existing database (e.g. one kept by an earlier server) instead of a fresh one. */
  databaseUrl?: string;
  /** close() leaves the database in place, so a later server can restart on the same data. */
  keepDatabase?: boolean;
  /** The admin client secret of a reused database (its first start set it). */
  clientSecret?: string;
  /** Passed to startServer (e.g. a capturing logger, a metrics registry, tracing). */
  start?: StartOptions;
}

// Test-only registry: plain-HTTP helpers (fhirFetch) find the admin token by FHIR base URL.
const tokensByFhirUrl = new Map<string, string>();

function registerToken(fhirUrl: string, authorization: string): void {
  tokensByFhirUrl.set(fhirUrl, authorization);
}

/** The admin `Authorization` header of the test server whose FHIR base URL is `fhirUrl`. */
export function authorizationFor(fhirUrl: string): string | undefined {
  return tokensByFhirUrl.get(fhirUrl);
}

/**
 * Starts the real server on a fresh, empty database and a random port. Every test file gets
 * its own database, so files run in parallel without seeing each other's data.
 */
export async function startTestServer(overrides: Partial<ServerConfig> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const db = options.databaseUrl
    ? { url: options.databaseUrl, drop: async () => undefined }
    : await createScratchDatabase(inject('adminDatabaseUrl'));
  const admin = {
    email: 'admin@example.org',
    password: `pw-${randomBytes(8).toString('hex')}`,
    clientId: randomUUID() as string,
    clientSecret: randomBytes(32).toString('hex'),
  };
  const configFor = (port: number): ServerConfig => ({
    ...loadConfig({
      ADMIN_EMAIL: admin.email,
      ADMIN_PASSWORD: admin.password,
      ADMIN_CLIENT_ID: admin.clientId,
      ADMIN_CLIENT_SECRET: admin.clientSecret,
    }),
    port,
    host: '127.0.0.1',
    baseUrl: `http://127.0.0.1:${port}/`,
    databaseUrl: db.url,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
    dbPoolSize: 8,
    auditJournalDir: inject('auditJournalDir'),
    ...overrides,
    // Cron bots stay off unless a test asks for them: a schedule firing mid-test would race its assertions.
    subscriptions: { cron: false, ...overrides.subscriptions },
  });
  let server: RunningServer | undefined;
  // The free port is found before the server binds it; another process may take it meanwhile
  // (many test files and fakes run at once), so a lost race retries on a new port.
  for (let attempt = 1; !server; attempt++) {
    const config = configFor(await freePort());
    try {
      server = await startServer(config, { logger: pino({ level: config.logLevel }), ...options.start });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5 && overrides.port === undefined) {
        continue;
      }
      await db.drop();
      throw err;
    }
  }
  const baseUrl = server.url;
  // A reused database keeps the admin client it was first started with.
  admin.clientId = server.bootstrap.clientId;
  const tokens = await server.auth.clientCredentials(admin.clientId, options.clientSecret ?? admin.clientSecret, 'openid', {});
  const loginId = (JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString()) as { login_id: string }).login_id;
  const authorization = `Bearer ${tokens.access_token}`;
  registerToken(`${baseUrl}fhir/R4/`, authorization);
  const anonymousClient = () => new MedplumClient({ baseUrl, cacheTime: 0 });
  const newClient = () => {
    const client = anonymousClient();
    client.setAccessToken(tokens.access_token);
    return client;
  };
  return {
    server,
    baseUrl,
    fhirUrl: `${baseUrl}fhir/R4/`,
    databaseUrl: db.url,
    medplum: newClient(),
    newClient,
    anonymousClient,
    admin: { ...admin, clientSecret: options.clientSecret ?? admin.clientSecret, accessToken: tokens.access_token, loginId },
    authorization,
    close: async () => {
      await server.close();
      if (!options.keepDatabase) {
        await db.drop();
      }
    },
    dropDatabase: () => db.drop(),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}
