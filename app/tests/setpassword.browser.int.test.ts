/**
 * Issue 12: an admin invites a user without a password from /admin/members, hands over the link
 * the page shows, and the user — in a fresh browser, signed out — sets a password at
 * /setpassword/:id/:secret, signs in, and gets only what the role allows. Real server, real
 * database, Debian's headless Chromium. Screenshots: test-output/app/setpassword-*.png.
 */
import { join } from 'node:path';
import type { Observation, Project } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../scripts/build-app.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { chromiumAvailable, launchBrowser, OUTPUT_DIR, signIn, watchErrors } from './browser.ts';

const STEP_TIMEOUT = 30_000;
const EMAIL = 'new.clerk@example.org';
const PASSWORD = 'chosen by the clerk 789';

let t: TestServer;
let browser: Browser;
let observation: Observation;

const shot = (p: Page, name: string) => p.screenshot({ path: join(OUTPUT_DIR, `setpassword-${name}.png`), fullPage: true });

describe.skipIf(!chromiumAvailable())('invite → set password → sign in, in a browser', () => {
  beforeAll(async () => {
    await buildApp();
    t = await startTestServer();
    observation = await t.medplum.createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Heart rate' },
      valueQuantity: { value: 80, unit: '/min' },
    });
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  let link: string;

  test(
    'the admin invites a registration clerk without a password and is shown the link to hand over',
    async () => {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const errors = watchErrors(page);
      await signIn(page, t.baseUrl, t.admin.email, t.admin.password);
      await page.goto(`${t.baseUrl}admin/members`);
      await page.getByRole('heading', { name: 'Users and members' }).waitFor({ timeout: STEP_TIMEOUT });
      await page.getByLabel('First name').fill('Noor');
      await page.getByLabel('Last name').fill('Desk');
      await page.getByLabel('Email').fill(EMAIL);
      await page.getByTestId('invite-role').click();
      await page.getByRole('option', { name: /role registration-clerk/ }).click();
      await page.getByTestId('invite-submit').click();
      await page.getByTestId('set-password-link').waitFor({ timeout: STEP_TIMEOUT });
      await page.locator('[data-testid="member-row"][data-name="Noor Desk"]').waitFor({ timeout: STEP_TIMEOUT });
      await shot(page, '01-invited');
      link = ((await page.getByTestId('set-password-url').textContent()) ?? '').trim();
      expect(link).toMatch(new RegExp(`^${t.baseUrl}setpassword/[0-9a-f-]{36}/[0-9a-f]{32}$`));
      expect(errors).toEqual([]);
      await page.close();
    },
    STEP_TIMEOUT * 3,
  );

  test(
    'signed out, in a fresh browser, the invitee sets a password, signs in and gets only the role’s pages and data',
    async () => {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const page = await context.newPage();
        const errors = watchErrors(page);
        await page.goto(link);
        await page.getByRole('heading', { name: 'Set password' }).waitFor({ timeout: STEP_TIMEOUT });
        await page.locator('input[name="password"]').fill(PASSWORD);
        await page.locator('input[name="confirmPassword"]').fill(PASSWORD);
        await page.getByRole('button', { name: 'Set password' }).click();
        await page.getByTestId('success').waitFor({ timeout: STEP_TIMEOUT });
        await shot(page, '02-password-set');
        await page.getByRole('button', { name: 'sign in' }).click();
        await page.waitForURL(/\/signin$/);

        await signIn(page, t.baseUrl, EMAIL, PASSWORD);
        expect(await page.getByTestId('current-user').textContent()).toContain('Noor Desk');
        // The role's limits: no admin navigation, and the admin pages are not reachable by URL.
        expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Integration & bots' }).count()).toBe(0);
        await page.goto(`${t.baseUrl}admin/members`);
        await page.getByRole('heading', { name: 'Tracking board' }).waitFor({ timeout: STEP_TIMEOUT });
        expect(new URL(page.url()).pathname).toBe('/');
        await shot(page, '03-signed-in-with-role');
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
      // Whatever the app shows, the server refuses the clerk clinical data and administration.
      const clerk = t.anonymousClient();
      const login = await clerk.startLogin({ email: EMAIL, password: PASSWORD });
      await clerk.processCode(login.code as string);
      await expect(clerk.readResource('Observation', observation.id as string, { cache: 'no-cache' })).rejects.toThrow(/forbidden/i);
      const projectId = (await t.medplum.get<{ project: Project }>('auth/me')).project.id as string;
      await expect(clerk.get(`admin/projects/${projectId}`, { cache: 'no-cache' })).rejects.toThrow(/forbidden/i);
    },
    STEP_TIMEOUT * 4,
  );

  test(
    'the link works once: opened again, the form says so',
    async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors = watchErrors(page);
        await page.goto(link);
        await page.locator('input[name="password"]').fill('someone else 000');
        await page.locator('input[name="confirmPassword"]').fill('someone else 000');
        await page.getByRole('button', { name: 'Set password' }).click();
        await page.getByText(/Already used/).waitFor({ timeout: STEP_TIMEOUT });
        await shot(page, '04-link-reused');
        // The only failed request is the refused one.
        expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([expect.stringMatching(/^400 POST .*\/auth\/setpassword$/)]);
      } finally {
        await context.close();
      }
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'the sign-in page offers “Reset Password”, which asks the server for a link by email',
    async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors = watchErrors(page);
        await page.goto(t.baseUrl);
        await page.waitForURL(/\/signin/);
        await page.getByLabel('Email', { exact: false }).first().fill(EMAIL);
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.getByText('Reset Password').click();
        await page.waitForURL(/\/resetpassword$/);
        await page.getByRole('heading', { name: 'Reset your password' }).waitFor({ timeout: STEP_TIMEOUT });
        await page.locator('input[name="email"]').fill(EMAIL);
        const answer = page.waitForResponse((r) => r.url().endsWith('/auth/resetpassword'));
        await page.getByRole('button', { name: 'Reset Password' }).click();
        expect((await answer).status()).toBe(200);
        await page.getByText(/a password reset email will be sent/).waitFor({ timeout: STEP_TIMEOUT });
        await shot(page, '05-reset-requested');
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    },
    STEP_TIMEOUT * 2,
  );
});
