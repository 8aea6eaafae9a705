/**
 * The analytics dashboard in a real browser (Debian's headless Chromium via playwright-core),
 * served by the real server on a real database, signed in as an ED physician. The numbers on the
 * page are checked against `Measure/$ed-metrics` read directly. Screenshots: test-output/app/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WithId } from '@medplum/core';
import type { Encounter, Location, Observation, Parameters, Patient, Project } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../scripts/build-app.ts';
import { createUser } from '../../server/auth/admin.ts';
import type { AllMetrics } from '../../server/fhir/analytics/reports.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { chromiumAvailable, launchBrowser, log, OUTPUT_DIR, signIn, watchErrors } from './browser.ts';

const ES = 'https://emergisphere.dev/fhir';
const STEP_TIMEOUT = 30_000;
const DAY = '2026-03-02';
const at = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;
const esi = (level: number) => ({ coding: [{ system: `${ES}/CodeSystem/esi`, code: String(level) }] });

let t: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];
let patient: WithId<Patient>;
let resus: WithId<Location>;

const shot = (name: string) => page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true });
const cell = (metric: string, col: string) => page.locator(`[data-metric="${metric}"] [data-col="${col}"]`);

async function edMetrics(query: string): Promise<AllMetrics> {
  const params = (await t.medplum.get(`${t.medplum.fhirUrl('Measure', '$ed-metrics')}?${query}&store=false`, {
    cache: 'no-cache',
  })) as Parameters;
  return JSON.parse(params.parameter?.find((p) => p.name === 'metrics')?.valueString ?? '{}') as AllMetrics;
}

async function visit(start: string, level: number, extra: Partial<Encounter> = {}): Promise<WithId<Encounter>> {
  const e = await t.medplum.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    period: { start },
    priority: esi(level),
    ...extra,
  });
  await t.medplum.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'esi' }] },
    encounter: { reference: `Encounter/${e.id}` },
    effectiveDateTime: new Date(Date.parse(start) + 7 * 60_000).toISOString(),
    valueCodeableConcept: esi(level),
    method: { coding: [{ code: 'rules' }] },
  });
  return e;
}

describe.skipIf(!chromiumAvailable())('the analytics dashboard in a browser', () => {
  beforeAll(async () => {
    await buildApp();
    t = await startTestServer();
    const m = t.medplum;
    const area = await m.createResource<Location>({
      resourceType: 'Location',
      name: 'ED Resuscitation',
      physicalType: { coding: [{ code: 'wa' }] },
    });
    resus = await m.createResource<Location>({
      resourceType: 'Location',
      name: 'Resus 1',
      physicalType: { coding: [{ code: 'bd' }] },
      partOf: { reference: `Location/${area.id}` },
      type: [{ coding: [{ system: `${ES}/CodeSystem/bed-zone`, code: 'resus' }] }],
    });
    patient = await m.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Analytics' }] });
    // Three visits on one day and one the next: acuity 2, 3, 3, 4; provider times 20, 35, 50 min.
    await visit(at('08:00'), 2, {
      period: { start: at('08:00'), end: at('11:00') },
      location: [{ location: { reference: `Location/${resus.id}` } }],
      participant: [{ period: { start: at('08:20') } }],
    });
    await visit(at('09:30'), 3, { period: { start: at('09:30'), end: at('12:00') }, participant: [{ period: { start: at('10:05') } }] });
    await visit(at('14:00'), 3, { period: { start: at('14:00'), end: at('15:00') }, participant: [{ period: { start: at('14:50') } }] });
    await visit(at('10:00', '2026-03-03'), 4, { period: { start: at('10:00', '2026-03-03'), end: at('11:00', '2026-03-03') } });
    const project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
    await createUser(t.server.app.repo(), project, {
      email: 'er.doc@example.org',
      password: 'er doc password 1',
      firstName: 'Erin',
      lastName: 'Doc',
      role: 'ed-physician',
    });
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, timezoneId: 'UTC', acceptDownloads: true });
    page = await context.newPage();
    errors = watchErrors(page);
  }, 180_000);

  afterAll(async () => {
    writeFileSync(join(OUTPUT_DIR, 'analytics-browser-log.txt'), log.join('\n'));
    await browser?.close();
    await t?.close();
  });

  test(
    'an ED physician opens Analytics from the nav; a past period shows the numbers of $ed-metrics',
    async () => {
      await signIn(page, t.baseUrl, 'er.doc@example.org', 'er doc password 1');
      await page.getByRole('link', { name: 'Analytics' }).click();
      await page.waitForURL(/\/analytics\?from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}&tz=UTC/);
      await page.getByTestId('live-badge').waitFor({ timeout: STEP_TIMEOUT });

      await page.goto(`${t.baseUrl}analytics?from=2026-03-02&to=2026-03-03&tz=UTC`);
      const expected = await edMetrics('start=2026-03-02&end=2026-03-04&tz=UTC');
      expect(expected.flow?.arrivals).toBe(4);
      await expect.poll(() => page.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('4');
      const f = expected.flow;
      expect(await page.getByTestId('stat-door-to-provider').textContent()).toBe(`${f?.doorToProvider.median?.toFixed(1)} min`);
      expect(await cell('flow/door-to-provider', 'median').textContent()).toBe(f?.doorToProvider.median?.toFixed(1));
      expect(await cell('flow/door-to-provider', 'p90').textContent()).toBe(f?.doorToProvider.p90?.toFixed(1));
      expect(await cell('flow/door-to-provider', 'n').textContent()).toBe(String(f?.doorToProvider.n));
      expect(await cell('flow/door-to-triage', 'median').textContent()).toBe(f?.doorToTriage.median?.toFixed(1));
      expect(await cell('flow/length of stay, discharged', 'p90').textContent()).toBe(f?.lengthOfStay.discharged.p90?.toFixed(1));
      expect(await cell('acuity mix/ESI 3', 'count').textContent()).toBe('2');
      await page.getByLabel('Arrivals per day').locator('.recharts-bar-rectangle').first().waitFor();
      expect(await page.getByLabel('Arrivals per day').locator('.recharts-bar-rectangle').count()).toBe(2);
      expect(await page.getByLabel('Acuity mix (ESI)').locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
      await shot('analytics-01-past-period');
    },
    STEP_TIMEOUT * 3,
  );

  test(
    'changing a filter changes the URL and the numbers; the same URL gives the same numbers',
    async () => {
      // Mantine's Chip hides its checkbox behind the chip itself: click the chip (its label).
      await page.locator('label').filter({ hasText: /^3$/ }).click();
      await page.waitForURL(/acuity=3/);
      const expected = await edMetrics('start=2026-03-02&end=2026-03-04&tz=UTC&acuity=3');
      expect(expected.flow?.arrivals).toBe(2);
      await expect.poll(() => page.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('2');
      expect(await cell('flow/door-to-provider', 'median').textContent()).toBe(expected.flow?.doorToProvider.median?.toFixed(1));
      const url = page.url();
      await page.goto(url);
      await expect.poll(() => page.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('2');
      expect(await cell('flow/door-to-provider', 'median').textContent()).toBe(expected.flow?.doorToProvider.median?.toFixed(1));
      await shot('analytics-02-filtered');
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'Export CSV downloads the table',
    async () => {
      const expected = await edMetrics('start=2026-03-02&end=2026-03-04&tz=UTC&acuity=3');
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
      expect(download.suggestedFilename()).toBe('ed-metrics_2026-03-02_2026-03-03_esi3.csv');
      const csv = readFileSync(await download.path(), 'utf8');
      const lines = csv.trimEnd().split('\r\n');
      expect(lines[0]).toBe('group,metric,n,median_min,p90_min,count,rate');
      expect(lines).toContain('flow,arrivals,,,,2,');
      const d2p = expected.flow?.doorToProvider;
      expect(lines).toContain(`flow,door-to-provider,${d2p?.n},${d2p?.median},${d2p?.p90},,`);
      expect(lines).toContain('acuity mix,ESI 3,,,,2,1');
    },
    STEP_TIMEOUT,
  );

  test(
    'today is live: a new arrival updates the open dashboard without a reload',
    async () => {
      await page.goto(`${t.baseUrl}analytics`);
      await expect.poll(() => page.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('0');
      // Bound to the server's websocket channel before the arrival happens.
      await page.locator('[data-testid="live-badge"][data-state="live"]').waitFor({ timeout: STEP_TIMEOUT });
      const navigations: string[] = [];
      page.on('framenavigated', (frame) => navigations.push(frame.url()));
      await visit(new Date(Date.now() - 1000).toISOString(), 2);
      await expect.poll(() => page.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('1');
      expect(await cell('acuity mix/ESI 2', 'count').textContent()).toBe('1');
      expect(navigations).toEqual([]);
      await shot('analytics-03-live');
      expect(errors).toEqual([]);
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'a write while a live screen is still being bound is not missed (analytics, then the board)',
    async () => {
      // The app's websocket is open (the badge may show Live) before a screen's criteria are bound
      // on the server, and what is written in between reaches nobody. Holding the binding messages
      // makes that window as long as the test needs: each screen must catch up once bound.
      const gated = await page.context().newPage();
      const gatedErrors = watchErrors(gated);
      let holding = true;
      let held: Array<() => void> = [];
      await gated.routeWebSocket(/\/ws\/subscriptions-r4/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((m) => {
          if (holding && String(m).includes('"bind-with-token"')) held.push(() => server.send(m));
          else server.send(m);
        });
      });
      const open = () => {
        holding = false;
        for (const send of held) send();
        held = [];
      };

      await gated.goto(`${t.baseUrl}analytics`);
      await expect.poll(() => gated.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('1');
      await expect.poll(() => held.length, { timeout: STEP_TIMEOUT }).toBeGreaterThan(0);
      await visit(new Date(Date.now() - 1000).toISOString(), 3);
      open();
      await expect.poll(() => gated.getByTestId('stat-arrivals').textContent(), { timeout: STEP_TIMEOUT }).toBe('2');

      holding = true;
      await gated.goto(t.baseUrl);
      await gated.getByTestId('board-empty').waitFor({ timeout: STEP_TIMEOUT });
      // The board's five criteria (the app shell may bind its own as well).
      await expect.poll(() => held.length, { timeout: STEP_TIMEOUT }).toBeGreaterThanOrEqual(5);
      const arrived = await t.medplum.createResource<Encounter>({
        resourceType: 'Encounter',
        status: 'arrived',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        subject: { reference: `Patient/${patient.id}` },
        period: { start: new Date().toISOString() },
      });
      open();
      await gated.locator(`[data-testid="board-row"][data-encounter="${arrived.id}"]`).waitFor({ timeout: STEP_TIMEOUT });
      expect(gatedErrors).toEqual([]);
      await gated.close();
    },
    STEP_TIMEOUT * 3,
  );
});
