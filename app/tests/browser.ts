/** Headless Chromium (Debian's) driven by playwright-core, for the app's browser tests and benchmark. */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const OUTPUT_DIR = resolve(import.meta.dirname, '../../test-output/app');

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Collects console errors and uncaught exceptions of a page (the tests assert there are none). */
export const log: string[] = [];

export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('websocket', (ws) => {
    log.push(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => log.push(`ws > ${String(f.payload).slice(0, 200)}`));
    ws.on('framereceived', (f) => log.push(`ws < ${String(f.payload).slice(0, 200)}`));
    ws.on('close', () => log.push('ws closed'));
  });
  page.on('request', (r) => log.push(`${r.method()} ${r.url()}`));
  page.on('console', (msg) => {
    log.push(`console.${msg.type()} ${msg.text()}`);
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
  return errors;
}

/**
 * Signs in through Medplum's SignInForm (email, then password; PKCE code exchange underneath) and
 * waits for the landing page's heading (the tracking board for staff).
 */
export async function signIn(
  page: Page,
  baseUrl: string,
  email: string,
  password: string,
  landing: string | RegExp = 'Tracking board',
): Promise<void> {
  await page.goto(baseUrl);
  await page.waitForURL(/\/signin/);
  await page.getByLabel('Email', { exact: false }).first().fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('input[name="password"]').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: landing }).waitFor();
}
