// Operator commands: create users and client applications, rotate a client secret, list roles.
//   npm run admin -- user --email nurse@example.org --password '…' --first Ana --last Rivera --role triage-nurse
//   npm run admin -- client --name "Acme monitors" --role device-integrator --param organization=Organization/123
//   npm run admin -- rotate-secret --client <id>
//   npm run admin -- reset-link --email nurse@example.org   (a single-use set-password link, 1 hour)
//   npm run admin -- roles
// Uses DATABASE_URL, else the embedded PostgreSQL of a running `npm start` (data/runtime.json),
// else starts the embedded PostgreSQL itself.
import { parseArgs } from 'node:util';
import type { Project } from '@medplum/fhirtypes';
import pino from 'pino';
import { createClient, createUser, ROLE_SYSTEM, rotateClientSecret } from '../server/auth/admin.ts';
import { createSecurityRequest, SECURITY_REQUEST_LIFETIME_MS, setPasswordUrl } from '../server/auth/security-request.ts';
import { loadConfig } from '../server/config.ts';
import { loadProfiles } from '../server/fhir/definitions.ts';
import { PostgresRepository } from '../server/fhir/repo.ts';
import { fail, openCliDatabase } from './lib/cli-database.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    email: { type: 'string' },
    password: { type: 'string' },
    first: { type: 'string', default: '' },
    last: { type: 'string', default: '' },
    role: { type: 'string' },
    admin: { type: 'boolean', default: false },
    profile: { type: 'string', default: 'Practitioner' },
    name: { type: 'string' },
    client: { type: 'string' },
    param: { type: 'string', multiple: true, default: [] },
  },
});

function params(list: string[]): Record<string, string> {
  return Object.fromEntries(
    list.map((p) => {
      const eq = p.indexOf('=');
      if (eq < 1) throw new Error(`--param must be name=value, got "${p}"`);
      return [p.slice(0, eq), p.slice(eq + 1)];
    }),
  );
}

const config = loadConfig();
const logger = pino({ level: 'warn' });
const db = await openCliDatabase(config, logger);
const pool = db.pool;
try {
  const profiles = loadProfiles(config.profilesDir);
  const repo = new PostgresRepository({
    pool,
    fhirBaseUrl: `${config.baseUrl}fhir/R4/`,
    defaultSearchCount: 20,
    maxSearchCount: 1000,
    profiles: profiles.profiles,
    logger,
  });
  const { rows } = await pool.query<{ value: { projectId: string } }>("SELECT value FROM server_state WHERE key = 'bootstrap'");
  if (!rows[0]) fail('The server has not been started on this database yet: run `npm start` once first.');
  const project = await repo.readResource<Project>('Project', rows[0].value.projectId);
  switch (positionals[0]) {
    case 'user': {
      if (!values.email || !values.password) fail('user needs --email and --password');
      const membership = await createUser(repo, project, {
        email: values.email,
        password: values.password,
        firstName: values.first ?? '',
        lastName: values.last ?? '',
        role: values.role,
        admin: values.admin,
        profileType: values.profile as 'Practitioner' | 'Patient' | 'RelatedPerson',
        parameters: params(values.param ?? []),
      });
      process.stdout.write(
        `Created user ${values.email} (${membership.profile?.reference}), role ${values.role ?? (values.admin ? 'admin' : 'none')}\n`,
      );
      break;
    }
    case 'client': {
      if (!values.name) fail('client needs --name');
      const { client, secret } = await createClient(repo, project, {
        name: values.name,
        role: values.role,
        admin: values.admin,
        parameters: params(values.param ?? []),
      });
      process.stdout.write(
        `Created client "${values.name}"\n  client id:     ${client.id}\n  client secret: ${secret}\n(The secret is shown once.)\n`,
      );
      break;
    }
    case 'rotate-secret': {
      if (!values.client) fail('rotate-secret needs --client <id>');
      process.stdout.write(`New secret for ${values.client}: ${await rotateClientSecret(repo, values.client)}\n`);
      break;
    }
    case 'reset-link': {
      // For a forgotten password when the project has no email channel: the operator hands it over.
      const email = values.email?.trim().toLowerCase();
      if (!email) fail('reset-link needs --email');
      const found = await pool.query<{ user_id: string }>('SELECT user_id FROM user_credential WHERE email = $1', [email]);
      if (!found.rows[0]) fail(`No user with email ${email}`);
      const { id, secret } = await createSecurityRequest(pool, found.rows[0].user_id, 'reset');
      const minutes = SECURITY_REQUEST_LIFETIME_MS.reset / 60_000;
      process.stdout.write(
        `Set-password link for ${email} (works once, for ${minutes} minutes):\n  ${setPasswordUrl(config.baseUrl, id, secret)}\n`,
      );
      break;
    }
    case 'roles': {
      const bundle = await repo.search({ resourceType: 'AccessPolicy', count: 200 });
      for (const e of bundle.entry ?? []) {
        const tag = e.resource?.meta?.tag?.find((t) => t.system === ROLE_SYSTEM);
        if (tag) process.stdout.write(`${tag.code?.padEnd(22)} ${tag.display ?? ''}\n`);
      }
      break;
    }
    default:
      fail('usage: npm run admin -- user|client|rotate-secret|reset-link|roles [options] (see scripts/admin.ts)');
  }
} finally {
  await db.close();
}
