import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MedplumClient } from '@medplum/core';
import type { OperationOutcome, Parameters, Patient, Project, ProjectMembership, ProjectSetting, RelatedPerson } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type FakeSendGrid, startFakeSendGrid } from '../../test/fakes/sendgrid.ts';
import { familyConsent } from '../../test/family-consent.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { INVITE_EMAIL_EXTENSION, SET_PASSWORD_URL_EXTENSION } from '../admin/invite-delivery.ts';

const SENDGRID_KEY = 'SG.setpassword-test';
let t: TestServer;
let db: pg.Pool;
let sendgrid: FakeSendGrid;
let projectId: string;
let counter = 0;

beforeAll(async () => {
  [t, sendgrid] = await Promise.all([startTestServer(), startFakeSendGrid({ apiKey: SENDGRID_KEY })]);
  db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  projectId = (await t.medplum.get<{ project: Project }>('auth/me')).project.id as string;
});
afterAll(async () => {
  await db?.end();
  await Promise.all([t?.close(), sendgrid?.close()]);
});

function newEmail(): string {
  counter++;
  return `invitee${counter}-${Date.now()}@hospital.example`;
}

function invite(email: string, extra: Record<string, unknown> = {}): Promise<ProjectMembership> {
  return t.medplum.post<ProjectMembership>(`admin/projects/${projectId}/invite`, {
    resourceType: 'Practitioner',
    firstName: 'Ines',
    lastName: 'Vite',
    email,
    ...extra,
  });
}

function extensionOf(m: ProjectMembership, url: string) {
  return m.extension?.find((e) => e.url === url);
}

/** id and secret of a set-password link, as the app's route reads them. */
function parseLink(url: string): { id: string; secret: string } {
  const match = new RegExp(`^${t.baseUrl}setpassword/([0-9a-f-]{36})/([0-9a-f]+)$`).exec(url);
  expect(match, url).not.toBeNull();
  return { id: (match as RegExpExecArray)[1], secret: (match as RegExpExecArray)[2] };
}

async function post(
  path: string,
  body: unknown,
): Promise<{ status: number; text: string; body: OperationOutcome; retryAfter: string | null }> {
  const res = await fetch(`${t.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as OperationOutcome, retryAfter: res.headers.get('retry-after') };
}

function issue(oo: OperationOutcome): { text?: string; expression?: string[] } {
  return { text: oo.issue?.[0]?.details?.text, expression: oo.issue?.[0]?.expression };
}

async function signIn(email: string, password: string): Promise<MedplumClient> {
  const client = new MedplumClient({ baseUrl: t.baseUrl, fetch });
  const login = await client.startLogin({ email, password });
  await client.processCode(login.code as string);
  return client;
}

async function setSecrets(secrets: ProjectSetting[]): Promise<void> {
  await t.medplum.post(`admin/projects/${projectId}/secrets`, secrets);
}

describe('invite without a password, no email channel configured', () => {
  const email = newEmail();
  let link: { id: string; secret: string };

  test('the invite answers with the set-password link for the admin', async () => {
    const membership = await invite(email);
    expect(membership.resourceType).toBe('ProjectMembership');
    expect(extensionOf(membership, INVITE_EMAIL_EXTENSION)?.valueCode).toBe('not-configured');
    link = parseLink(extensionOf(membership, SET_PASSWORD_URL_EXTENSION)?.valueUrl as string);
    // The link is shown once: the stored membership does not carry it.
    const stored = await t.medplum.readResource('ProjectMembership', membership.id as string);
    expect(JSON.stringify(stored)).not.toContain(link.secret);
    const { rows } = await db.query('SELECT secret_sha256 FROM user_security_request WHERE id = $1', [link.id]);
    expect(rows[0].secret_sha256).not.toBe(link.secret);
  });

  test('bad input is a 400 naming the field', async () => {
    const cases: [unknown, string, string][] = [
      [{ id: 'not-a-uuid', secret: link.secret, password: 'correct horse' }, 'id', 'Invalid request ID'],
      [{ id: link.id, password: 'correct horse' }, 'secret', 'Missing secret'],
      [{ id: link.id, secret: link.secret, password: 'short' }, 'password', 'at least 8 characters'],
      [{ id: link.id, secret: link.secret }, 'password', 'at least 8 characters'],
    ];
    for (const [body, expression, text] of cases) {
      const res = await post('auth/setpassword', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(issue(res.body).expression).toEqual([expression]);
      expect(issue(res.body).text).toContain(text);
    }
  });

  test('a wrong secret is refused and changes nothing', async () => {
    const res = await post('auth/setpassword', { id: link.id, secret: 'ab'.repeat(16), password: 'correct horse battery' });
    expect(res.status).toBe(400);
    expect(issue(res.body)).toEqual({ text: 'Incorrect secret', expression: undefined });
    await expect(signIn(email, 'correct horse battery')).rejects.toThrow(/invalid/i);
  });

  test('an unknown request id is 404', async () => {
    const res = await post('auth/setpassword', {
      id: '7b2f0d4e-1c3a-4e5b-9f6a-0a1b2c3d4e5f',
      secret: link.secret,
      password: 'correct horse',
    });
    expect(res.status).toBe(404);
    expect(res.body.issue?.[0]?.code).toBe('not-found');
  });

  test('the right secret sets the password; the user signs in with it', async () => {
    const res = await post('auth/setpassword', { id: link.id, secret: link.secret, password: 'correct horse battery' });
    expect(res.status).toBe(200);
    expect(res.body.issue?.[0]?.code).toBe('informational');
    expect(res.text).not.toMatch(/argon2|password_hash|passwordHash/);
    const client = await signIn(email, 'correct horse battery');
    const me = await client.get<{ user: { email: string } }>('auth/me');
    expect(me.user.email).toBe(email);
    expect(JSON.stringify(me)).not.toMatch(/argon2|passwordHash/);
  });

  test('the link works once', async () => {
    const res = await post('auth/setpassword', { id: link.id, secret: link.secret, password: 'another password' });
    expect(res.status).toBe(400);
    expect(issue(res.body).text).toMatch(/^Already used/);
    await signIn(email, 'correct horse battery');
    await expect(signIn(email, 'another password')).rejects.toThrow(/invalid/i);
  });
});

test('an expired link is refused', async () => {
  const email = newEmail();
  const link = parseLink(extensionOf(await invite(email, { sendEmail: false }), SET_PASSWORD_URL_EXTENSION)?.valueUrl as string);
  await db.query(`UPDATE user_security_request SET expires_at = now() - interval '1 second' WHERE id = $1`, [link.id]);
  const res = await post('auth/setpassword', { id: link.id, secret: link.secret, password: 'correct horse battery' });
  expect(res.status).toBe(400);
  expect(issue(res.body)).toEqual({ text: 'This link has expired: ask for a new one', expression: undefined });
  await expect(signIn(email, 'correct horse battery')).rejects.toThrow(/invalid/i);
});

test('guessing a link’s secret is throttled like sign-in', async () => {
  const link = parseLink(extensionOf(await invite(newEmail()), SET_PASSWORD_URL_EXTENSION)?.valueUrl as string);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await post('auth/setpassword', { id: link.id, secret: `${i}`.repeat(32), password: 'correct horse battery' })).status);
  }
  expect(statuses).toEqual([400, 400, 400, 400, 400, 429]);
  // Each failure is audited like a failed sign-in, naming the link.
  const audits = await t.medplum.searchResources('AuditEvent', { outcome: '4', _count: '100' }, { cache: 'no-cache' });
  const reasons = audits.filter((a) => a.agent?.[0]?.name === `setpassword:${link.id}`).map((a) => a.outcomeDesc);
  expect(reasons.filter((r) => r === 'incorrect set-password secret')).toHaveLength(5);
  expect(reasons).toContain('throttled');
  // Even the right secret waits now.
  const res = await post('auth/setpassword', { id: link.id, secret: link.secret, password: 'correct horse battery' });
  expect(res.status).toBe(429);
  expect(Number(res.retryAfter)).toBeGreaterThan(0);
});

describe('with the project’s email channel (SendGrid)', () => {
  beforeAll(async () => {
    await setSecrets([
      { name: 'SENDGRID_API_KEY', valueString: SENDGRID_KEY },
      { name: 'SENDGRID_FROM', valueString: 'ed@hospital.example' },
      { name: 'SENDGRID_API_BASE_URL', valueString: sendgrid.url },
    ]);
  });
  afterAll(async () => setSecrets([]));

  test('the invitation is emailed and the answer carries no link', async () => {
    const email = newEmail();
    const membership = await invite(email);
    expect(extensionOf(membership, INVITE_EMAIL_EXTENSION)?.valueCode).toBe('sent');
    expect(extensionOf(membership, SET_PASSWORD_URL_EXTENSION)).toBeUndefined();
    const sent = sendgrid.emails.find((e) => e.to === email);
    expect(sent).toMatchObject({ from: 'ed@hospital.example', subject: expect.stringContaining('Invitation') });
    const url = /http\S+\/setpassword\/\S+/.exec(sent?.text ?? '')?.[0] as string;
    const link = parseLink(url);
    expect((await post('auth/setpassword', { ...link, password: 'emailed password' })).status).toBe(200);
    await signIn(email, 'emailed password');
  });

  test('sendEmail: false leaves the link to the admin', async () => {
    const email = newEmail();
    const membership = await invite(email, { sendEmail: false });
    expect(extensionOf(membership, INVITE_EMAIL_EXTENSION)?.valueCode).toBe('not-requested');
    parseLink(extensionOf(membership, SET_PASSWORD_URL_EXTENSION)?.valueUrl as string);
    expect(sendgrid.emails.some((e) => e.to === email)).toBe(false);
  });

  test('a SendGrid failure still invites, and the answer shows the link', async () => {
    sendgrid.failure = 'server-error';
    try {
      const membership = await invite(newEmail());
      expect(extensionOf(membership, INVITE_EMAIL_EXTENSION)?.valueCode).toBe('failed');
      parseLink(extensionOf(membership, SET_PASSWORD_URL_EXTENSION)?.valueUrl as string);
    } finally {
      sendgrid.failure = 'none';
    }
  });

  test('resetpassword emails a single-use link; a newer one replaces it; the old password stops working', async () => {
    const email = newEmail();
    await invite(email, { password: 'first password' });
    const oldSession = await signIn(email, 'first password');
    expect((await oldSession.get<{ user: { email: string } }>('auth/me', { cache: 'no-cache' })).user.email).toBe(email);
    expect((await post('auth/resetpassword', { email: email.toUpperCase() })).status).toBe(200);
    expect((await post('auth/resetpassword', { email })).status).toBe(200);
    const links = sendgrid.emails
      .filter((e) => e.to === email)
      .map((e) => parseLink(/http\S+\/setpassword\/\S+/.exec(e.text)?.[0] as string));
    expect(links).toHaveLength(2);
    const older = await post('auth/setpassword', { ...links[0], password: 'second password' });
    expect(issue(older.body).text).toMatch(/^Already used/);
    expect((await post('auth/setpassword', { ...links[1], password: 'second password' })).status).toBe(200);
    // The new password ends the sessions signed in with the old one.
    await expect(oldSession.get('auth/me', { cache: 'no-cache' })).rejects.toThrow(/unauthorized|revoked|invalid|expired/i);
    await signIn(email, 'second password');
    await expect(signIn(email, 'first password')).rejects.toThrow(/invalid/i);
  });

  test('resetpassword answers the same for an unknown address and sends nothing', async () => {
    const before = sendgrid.emails.length;
    const res = await post('auth/resetpassword', { email: 'nobody@hospital.example' });
    expect(res.status).toBe(200);
    expect(res.body.issue?.[0]?.code).toBe('informational');
    expect(sendgrid.emails.length).toBe(before);
  });

  test('resetpassword needs a valid email and is throttled per address', async () => {
    const bad = await post('auth/resetpassword', { email: 'not an email' });
    expect(bad.status).toBe(400);
    expect(issue(bad.body).expression).toEqual(['email']);
    const email = 'flood@hospital.example';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post('auth/resetpassword', { email })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

test('an operator prints a reset link with `npm run admin -- reset-link` (no email channel needed)', async () => {
  const email = newEmail();
  await invite(email, { password: 'forgotten password' });
  const { stdout } = await promisify(execFile)(process.execPath, ['scripts/admin.ts', 'reset-link', '--email', email.toUpperCase()], {
    env: { ...process.env, DATABASE_URL: t.databaseUrl, BASE_URL: t.baseUrl },
  });
  const link = parseLink(/http\S+\/setpassword\/\S+/.exec(stdout)?.[0] as string);
  expect((await post('auth/setpassword', { ...link, password: 'remembered now' })).status).toBe(200);
  await signIn(email, 'remembered now');
});

test('Patient/$invite-family without a password answers the set-password link; the relative signs in with it', async () => {
  const patient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Ana'], family: 'Link' }] });
  const relative = await t.medplum.createResource<RelatedPerson>({
    resourceType: 'RelatedPerson',
    patient: { reference: `Patient/${patient.id}` },
    name: [{ given: ['Lea'], family: 'Link' }],
    telecom: [{ system: 'email', value: 'lea.link@family.example' }],
  });
  await t.medplum.createResource(familyConsent(`Patient/${patient.id}`, `RelatedPerson/${relative.id}`));
  const answer = await t.medplum.post<Parameters>(t.medplum.fhirUrl('Patient', patient.id as string, '$invite-family'), {
    resourceType: 'Parameters',
    parameter: [{ name: 'email', valueString: 'lea.link@family.example' }],
  });
  const link = parseLink(answer.parameter?.find((p) => p.name === 'setPasswordUrl')?.valueUrl as string);
  expect((await post('auth/setpassword', { ...link, password: 'family password' })).status).toBe(200);
  const client = await signIn('lea.link@family.example', 'family password');
  expect(client.getProfile()?.id).toBe(relative.id);
});
