/**
 * The any-resource workspace and the Batch page in a real browser (Debian's headless Chromium via
 * playwright-core), served by the real server on a real database. One server and one browser for
 * the file; every task is done through the UI the way a user does it. Screenshots: test-output/app/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../scripts/build-app.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { chromiumAvailable, launchBrowser, log, OUTPUT_DIR, signIn, watchErrors } from './browser.ts';

const STEP_TIMEOUT = 30_000;

let t: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];

const shot = (name: string) => page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true });

/** Drops answers the step expects (a 410 for a deleted resource) from the error log, and only those. */
function expectAnswered(pattern: RegExp): void {
  for (let i = errors.length - 1; i >= 0; i--) if (pattern.test(errors[i])) errors.splice(i, 1);
}

describe.skipIf(!chromiumAvailable())('the any-resource workspace and Batch page in a browser', () => {
  let ana: Patient;
  beforeAll(async () => {
    await buildApp();
    t = await startTestServer();
    ana = await t.medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Ana'], family: 'Rivera' }],
      birthDate: '1984-02-03',
      gender: 'female',
      telecom: [{ system: 'phone', value: '555-0101', use: 'mobile' }],
    });
    for (const [given, family] of [
      ['Bruno', 'Okafor'],
      ['Chen', 'Li'],
    ]) {
      await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ given: [given], family }], gender: 'male' });
    }
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
    page = await context.newPage();
    errors = watchErrors(page);
    page.on('response', async (r) => {
      if (!r.url().includes('/fhir/')) return;
      log.push(`RESP ${r.status()} ${r.url()}`);
      log.push(`BODY ${r.url()} ${(await r.text().catch((e) => String(e))).slice(0, 1500)}`);
    });
    await signIn(page, t.baseUrl, t.admin.email, t.admin.password);
  }, 180_000);

  afterAll(async () => {
    writeFileSync(join(OUTPUT_DIR, 'workspace-browser-log.txt'), log.join('\n'));
    // Where the page stood when the file ended (the first thing to look at after a failure).
    await page?.screenshot({ path: join(OUTPUT_DIR, 'ws-last.png'), fullPage: true }).catch(() => undefined);
    await browser?.close();
    await t?.close();
  });

  test(
    'find a patient by name on /Patient; the search lives in the URL and is remembered',
    async () => {
      await page.getByRole('link', { name: 'Resources' }).click();
      await page.waitForURL(/\/Patient\?/);
      await page.getByText('Okafor').first().waitFor({ timeout: STEP_TIMEOUT });
      await shot('ws-01-patient-search');
      writeFileSync(join(OUTPUT_DIR, 'ws-01.html'), await page.content());
    },
    STEP_TIMEOUT * 2,
  );

  test('no console errors or failed requests', () => {
    expect(errors).toEqual([]);
  });
});
