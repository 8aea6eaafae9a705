/**
 * The bot editor and the project administration pages in a real browser (Debian's headless
 * Chromium via playwright-core) against the real server and database. One browser and one server
 * for the whole file; each test goes on from where the previous one left. Screenshots: test-output/app/.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { AccessPolicy, Bot, Observation, Patient, Project, ProjectMembership, Subscription } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../scripts/build-app.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { chromiumAvailable, launchBrowser, log, OUTPUT_DIR, signIn, watchErrors } from './browser.ts';

const STEP_TIMEOUT = 30_000;

/** What the test types into the editor: greets with a project secret, acknowledges HL7. */
const BOT_SOURCE = `import { BotEvent, Hl7Message, MedplumClient } from '@medplum/core';

interface Greeting {
  greeting: string;
}

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<Greeting | Hl7Message> {
  console.log('input type ' + event.contentType);
  if (event.input instanceof Hl7Message) {
    console.log('patient ' + event.input.getSegment('PID')?.getField(5)?.getComponent(1));
    return event.input.buildAck();
  }
  const patient = event.input as { name?: { given?: string[] }[] };
  const greeting = event.secrets['GREETING']?.valueString ?? 'Hello';
  return { greeting: greeting + ', ' + patient.name?.[0]?.given?.[0] + '!' };
}
`;

let t: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];
let projectId: string;
let bot: Bot;
let subscription: Subscription;
let custom: AccessPolicy;
let observation: Observation;

const shot = (p: Page, name: string) => p.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true });

/** Drops an expected HTTP error (e.g. the 400 of an invalid policy) and the browser's console line for it. */
function expectedError(status: number, pattern: RegExp): void {
  for (const wanted of [pattern, new RegExp(`Failed to load resource: .*status of ${status}`)]) {
    const index = errors.findIndex((e) => wanted.test(e));
    expect(index, `expected an error matching ${wanted} in ${JSON.stringify(errors)}`).toBeGreaterThanOrEqual(0);
    errors.splice(index, 1);
  }
}

const mainNav = (p: Page, name: string) => p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
const adminNav = (p: Page, name: string) => p.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name });

async function signInClient(email: string, password: string): Promise<MedplumClient> {
  const client = t.anonymousClient();
  const login = await client.startLogin({ email, password });
  await client.processCode(login.code as string);
  return client;
}

async function clientLogin(clientId: string, secret: string): Promise<boolean> {
  return t
    .anonymousClient()
    .startClientLogin(clientId, secret)
    .then(
      () => true,
      () => false,
    );
}

describe.skipIf(!chromiumAvailable())('bot editor and project administration in a browser', () => {
  beforeAll(async () => {
    await buildApp();
    t = await startTestServer();
    projectId = (await t.medplum.get<{ project: Project }>('auth/me')).project.id as string;
    bot = await t.medplum.post<Bot>(`admin/projects/${projectId}/bot`, { name: 'Editor test bot', description: 'edited in the browser' });
    subscription = await t.medplum.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'editor test: greet new patients',
      criteria: 'Patient?name=Editortest',
      channel: { type: 'rest-hook', endpoint: `Bot/${bot.id}` },
    });
    custom = await t.medplum.createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'Editor test custom policy',
      resource: [{ resourceType: 'Patient' }],
    });
    const patient = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Clinical' }] });
    observation = await t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Heart rate' },
      subject: { reference: `Patient/${patient.id}` },
      valueQuantity: { value: 80, unit: '/min' },
    });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    errors = watchErrors(page);
    await signIn(page, t.baseUrl, t.admin.email, t.admin.password);
  }, 180_000);

  afterAll(async () => {
    writeFileSync(join(OUTPUT_DIR, 'admin-browser-log.txt'), log.join('\n'));
    await browser?.close();
    await t?.close();
  });

  test(
    'project details, then a project secret whose value is masked once entered',
    async () => {
      await mainNav(page, 'Integration & bots').click();
      await adminNav(page, 'Project').click();
      await page.getByTestId('project-details').waitFor();
      expect(await page.getByTestId('project-id').textContent()).toBe(projectId);
      await adminNav(page, 'Secrets').click();
      await page.getByRole('heading', { name: 'Project secrets' }).waitFor();
      await page.getByTestId('secret-name').fill('GREETING');
      await page.getByTestId('secret-value').fill('Bonjour');
      await page.getByTestId('add-secret').click();
      const row = page.locator('[data-testid="secret-row"][data-name="GREETING"]');
      await row.waitFor({ timeout: STEP_TIMEOUT });
      expect(await row.getByTestId('secret-mask').textContent()).toContain('••••');
      expect(await page.locator('main').textContent()).not.toContain('Bonjour');
      const project = await t.medplum.get<{ project: Project }>(`admin/projects/${projectId}`, { cache: 'no-cache' });
      expect(project.project.secret).toEqual([{ name: 'GREETING', valueString: 'Bonjour' }]);
      await shot(page, 'admin-01-secrets');
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'bot editor: change the source, save, deploy, execute with FHIR JSON (the bot reads the secret), then with HL7',
    async () => {
      await mainNav(page, 'Integration & bots').click();
      await page.getByTestId('bot-editor-link').filter({ hasText: 'Editor test bot' }).click();
      await page.waitForURL(new RegExp(`/bots/${bot.id}$`));
      // The CodeMirror editor (its own chunk, loaded with the page).
      await page.locator('[data-testid="bot-source"][data-ready="true"]').waitFor({ timeout: STEP_TIMEOUT });
      const source = page.locator('[data-testid="bot-source"] .cm-content');
      // A bot never deployed opens with a starter handler.
      expect(await source.textContent()).toContain('export async function handler');
      await source.fill(BOT_SOURCE);
      await page.getByTestId('save-bot').click();
      await page.getByText('Source saved').waitFor({ timeout: STEP_TIMEOUT });
      await page.locator('[data-testid="source-state"]', { hasText: 'saved' }).waitFor();
      const saved = await t.medplum.readResource('Bot', bot.id as string, { cache: 'no-cache' });
      expect(saved.sourceCode?.url).toMatch(/Binary\/[\w-]+$/);
      expect(await (await t.medplum.download(saved.sourceCode?.url as string)).text()).toBe(BOT_SOURCE);

      await page.getByTestId('deploy-bot').click();
      await page.getByText('Deployed', { exact: true }).waitFor({ timeout: STEP_TIMEOUT });
      const deployed = await t.medplum.readResource('Bot', bot.id as string, { cache: 'no-cache' });
      expect(deployed.executableCode?.url).toMatch(/^Binary\//);
      // Compiled to the CommonJS the runtime loads: no type annotations, no import statements left.
      const code = await (await t.medplum.download(deployed.executableCode?.url as string)).text();
      expect(code).toContain('exports.handler');
      expect(code).not.toMatch(/^import /m);
      await page
        .getByTestId('deployed-code')
        .filter({ hasText: deployed.executableCode?.url as string })
        .waitFor();
      // Saving again after the deploy keeps the deployed code (the save writes sourceCode only).
      await source.fill(`${BOT_SOURCE}// reviewed\n`);
      await page.getByTestId('save-bot').click();
      await page.locator('[data-testid="source-state"]', { hasText: 'saved' }).waitFor({ timeout: STEP_TIMEOUT });
      await expect
        .poll(async () => (await t.medplum.readResource('Bot', bot.id as string, { cache: 'no-cache' })).sourceCode?.url)
        .not.toBe(saved.sourceCode?.url);
      expect((await t.medplum.readResource('Bot', bot.id as string, { cache: 'no-cache' })).executableCode).toEqual(
        deployed.executableCode,
      );

      // FHIR JSON (the default input kind) with a patient named Ada.
      await page.getByTestId('bot-input').fill(JSON.stringify({ resourceType: 'Patient', name: [{ given: ['Ada'], family: 'Lovelace' }] }));
      await page.getByTestId('execute-bot').click();
      const run = page.locator('[data-testid="bot-run"][data-ok="true"]');
      await run.waitFor({ timeout: STEP_TIMEOUT });
      expect(JSON.parse((await page.getByTestId('bot-output').textContent()) as string)).toEqual({ greeting: 'Bonjour, Ada!' });
      expect(await page.getByTestId('bot-log').textContent()).toContain('input type application/fhir+json');
      await shot(page, 'admin-02-bot-fhir');

      // HL7 v2: the sample ADT^A04 is sent as x-application/hl7-v2+er7 and acknowledged.
      await page.getByTestId('input-kind').getByText('HL7 v2').click();
      expect(await page.getByTestId('bot-input').inputValue()).toContain('ADT^A04');
      await page.getByTestId('execute-bot').click();
      await page.locator('[data-testid="bot-output"]', { hasText: 'MSA|AA|MSG0001' }).waitFor({ timeout: STEP_TIMEOUT });
      const hl7Log = (await page.getByTestId('bot-log').textContent()) as string;
      expect(hl7Log).toContain('input type x-application/hl7-v2+er7');
      expect(hl7Log).toContain('patient Tour');

      // Both runs are listed among the recent executions, newest first, with their logs.
      const rows = page.getByTestId('bot-execution-row');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="bot-execution-row"]').length >= 2, undefined, {
        timeout: STEP_TIMEOUT,
      });
      expect(await rows.first().textContent()).toContain('x-application/hl7-v2+er7');
      expect(await rows.nth(1).textContent()).toContain('application/fhir+json');
      await page.getByRole('tab', { name: 'Subscriptions' }).click();
      const sub = page.getByTestId('bot-subscription');
      await sub.first().waitFor({ timeout: STEP_TIMEOUT });
      expect(await sub.first().textContent()).toContain(`Subscription/${subscription.id}`);
      expect(await sub.count()).toBe(1);
      await shot(page, 'admin-03-bot-hl7');
    },
    STEP_TIMEOUT * 4,
  );

  test(
    'access policies: a JSON error and a server validation error are shown; a valid edit is saved',
    async () => {
      await adminNav(page, 'Access policies').click();
      await page.locator('[data-testid="policy-row"][data-role="registration-clerk"]').waitFor({ timeout: STEP_TIMEOUT });
      await page.getByRole('link', { name: 'Editor test custom policy' }).click();
      const editor = page.getByTestId('policy-json');
      await editor.waitFor();
      const policy = JSON.parse(await editor.inputValue()) as AccessPolicy;
      expect(policy.id).toBe(custom.id);

      await editor.fill('{ "resourceType": "AccessPolicy", ');
      await page.getByTestId('save-policy').click();
      await page.locator('[data-testid="policy-errors"]', { hasText: 'Invalid JSON' }).waitFor();

      await editor.fill(JSON.stringify({ ...policy, resource: [{ resourceType: 'Patient', criteria: 'Observation?code=x' }] }, null, 2));
      await page.getByTestId('save-policy').click();
      await page
        .locator('[data-testid="policy-errors"]', { hasText: 'Criteria must be a search on Patient' })
        .waitFor({ timeout: STEP_TIMEOUT });
      expectedError(400, /^400 PUT .*AccessPolicy/);
      await shot(page, 'admin-04-policy-error');

      await editor.fill(JSON.stringify({ ...policy, resource: [{ resourceType: 'Patient', readonly: true }] }, null, 2));
      await page.getByTestId('save-policy').click();
      await page.getByText('Editor test custom policy saved').waitFor({ timeout: STEP_TIMEOUT });
      expect(await page.getByTestId('policy-errors').count()).toBe(0);
      const stored = await t.medplum.readResource('AccessPolicy', custom.id as string, { cache: 'no-cache' });
      expect(stored.resource).toEqual([{ resourceType: 'Patient', readonly: true }]);
    },
    STEP_TIMEOUT * 2,
  );

  const clerkEmail = 'desk.clerk@example.org';
  const clerkPassword = 'clerk password 456';
  test(
    'invite a registration clerk from the admin page; signed in, the clerk gets no admin pages and no clinical reads',
    async () => {
      await adminNav(page, 'Users').click();
      await page.getByRole('heading', { name: 'Users and members' }).waitFor();
      await page.getByLabel('First name').fill('Rosa');
      await page.getByLabel('Last name').fill('Desk');
      await page.getByLabel('Email').fill(clerkEmail);
      await page.getByLabel('Password', { exact: true }).fill(clerkPassword);
      await page.getByTestId('invite-role').click();
      await page.getByRole('option', { name: /role registration-clerk/ }).click();
      await page.getByTestId('invite-submit').click();
      const row = page.locator('[data-testid="member-row"][data-name="Rosa Desk"]');
      await row.waitFor({ timeout: STEP_TIMEOUT });
      await shot(page, 'admin-05-members');
      const membershipId = (await row.getAttribute('data-member')) as string;
      const membership = await t.medplum.get<ProjectMembership>(`admin/projects/${projectId}/members/${membershipId}`, {
        cache: 'no-cache',
      });
      const clerkPolicy = await t.medplum.readReference(membership.accessPolicy as { reference: string });
      expect(clerkPolicy.meta?.tag?.some((tag) => tag.code === 'registration-clerk')).toBe(true);

      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const clerk = await context.newPage();
        const clerkErrors = watchErrors(clerk);
        await signIn(clerk, t.baseUrl, clerkEmail, clerkPassword);
        expect(await clerk.getByTestId('current-user').textContent()).toContain('Rosa Desk');
        expect(await mainNav(clerk, 'Integration & bots').count()).toBe(0);
        // The admin pages are not offered by URL either.
        await clerk.goto(`${t.baseUrl}admin/members`);
        await clerk
          .getByRole('heading', { name: 'Tracking board' })
          .waitFor({ timeout: STEP_TIMEOUT })
          .catch(async (err) => {
            await shot(clerk, 'admin-06-clerk-failed');
            throw new Error(`${err}; page errors: ${JSON.stringify(clerkErrors)}; url ${clerk.url()}`);
          });
        expect(new URL(clerk.url()).pathname).toBe('/');
        await clerk.goto(`${t.baseUrl}bots/${bot.id}`);
        await clerk.getByRole('heading', { name: 'Tracking board' }).waitFor({ timeout: STEP_TIMEOUT });
        await shot(clerk, 'admin-06-clerk');
        // The board asks only for what the clerk's role grants: no request fails.
        expect(clerkErrors).toEqual([]);
      } finally {
        await context.close();
      }
      // The server refuses the clerk what the role does not grant, whatever the app shows.
      const clerkClient = await signInClient(clerkEmail, clerkPassword);
      await expect(clerkClient.readResource('Observation', observation.id as string, { cache: 'no-cache' })).rejects.toThrow(/forbidden/i);
      await expect(clerkClient.get(`admin/projects/${projectId}`, { cache: 'no-cache' })).rejects.toThrow(/forbidden/i);
      expect((await clerkClient.searchResources('Patient', { _count: '1' }, { cache: 'no-cache' })).length).toBe(1);
    },
    STEP_TIMEOUT * 4,
  );

  test(
    "change the clerk's role, then remove the clerk (with confirmation): the session ends",
    async () => {
      const clerkClient = await signInClient(clerkEmail, clerkPassword);
      const row = page.locator('[data-testid="member-row"][data-name="Rosa Desk"]');
      const membershipId = (await row.getAttribute('data-member')) as string;
      await row.getByTestId('member-role').click();
      await page.getByRole('option', { name: /role triage-nurse/ }).click();
      await row.getByTestId('save-role').click();
      await page.getByText('Role of Rosa Desk changed').waitFor({ timeout: STEP_TIMEOUT });
      const membership = await t.medplum.get<ProjectMembership>(`admin/projects/${projectId}/members/${membershipId}`, {
        cache: 'no-cache',
      });
      const policy = await t.medplum.readReference(membership.accessPolicy as { reference: string });
      expect(policy.meta?.tag?.some((tag) => tag.code === 'triage-nurse')).toBe(true);
      // Effective at once: a triage nurse reads vital signs.
      expect((await clerkClient.readResource('Observation', observation.id as string, { cache: 'no-cache' })).id).toBe(observation.id);

      await row.getByTestId('remove-member').click();
      await page.getByRole('dialog').getByText('Their sessions end at once').waitFor();
      await shot(page, 'admin-07-remove-confirm');
      await page.getByTestId('confirm').click();
      await row.waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
      await expect(t.medplum.get(`admin/projects/${projectId}/members/${membershipId}`, { cache: 'no-cache' })).rejects.toThrow(
        /not found/i,
      );
      await expect(clerkClient.searchResources('Patient', { _count: '1' }, { cache: 'no-cache' })).rejects.toThrow();
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'create a client application, its secret shown once; rotate it: the old secret no longer gets a token',
    async () => {
      await adminNav(page, 'Client applications').click();
      await page.getByRole('heading', { name: 'Client applications' }).waitFor();
      await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Acme monitors (test)');
      await page.getByTestId('client-role').click();
      await page.getByRole('option', { name: /role device-integrator/ }).click();
      await page.getByTestId('create-client').click();
      await page.getByTestId('client-secret-alert').waitFor({ timeout: STEP_TIMEOUT });
      const clientId = (await page.getByTestId('shown-client-id').textContent()) as string;
      const first = (await page.getByTestId('shown-client-secret').textContent()) as string;
      expect(first.length).toBeGreaterThan(20);
      const row = page.locator(`[data-testid="client-row"][data-client="${clientId}"]`);
      await row.waitFor({ timeout: STEP_TIMEOUT });
      expect(await row.textContent()).toContain('Device integrator');
      expect(await clientLogin(clientId, first)).toBe(true);
      await shot(page, 'admin-08-client-created');

      await row.getByTestId('rotate-secret').click();
      await page.getByTestId('confirm').click();
      await page.locator('[data-testid="client-secret-alert"]', { hasText: 'New secret' }).waitFor({ timeout: STEP_TIMEOUT });
      const second = (await page.getByTestId('shown-client-secret').textContent()) as string;
      expect(second).not.toBe(first);
      expect(await clientLogin(clientId, first)).toBe(false);
      expect(await clientLogin(clientId, second)).toBe(true);
      await shot(page, 'admin-09-client-rotated');
      // Gone once the page is left: only a hash is kept.
      await adminNav(page, 'Secrets').click();
      await adminNav(page, 'Client applications').click();
      await row.waitFor();
      expect(await page.getByTestId('client-secret-alert').count()).toBe(0);
    },
    STEP_TIMEOUT * 2,
  );

  test('no console errors or failed requests on any page', () => {
    expect(errors).toEqual([]);
  });
});
