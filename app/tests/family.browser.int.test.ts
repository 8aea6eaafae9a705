/**
 * The family status page in a real browser (Debian's headless Chromium via playwright-core), on the
 * real server and database: a clinician invites a family member from the chart (the patient's
 * consent is on file); the family member signs in on a phone (390×844) and sees the phase and the
 * expected wait; the encounter advances (a provider assigned → "being seen") and a clinician's
 * message arrives, both live without a reload; a second family member, of another patient, sees
 * nothing of the first, neither on the page nor through the API with their own token.
 * Screenshots: test-output/app/family-*.png.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WithId } from '@medplum/core';
import type { Encounter, Patient, Project, RelatedPerson } from '@medplum/fhirtypes';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../scripts/build-app.ts';
import { createUser } from '../../server/auth/admin.ts';
import { familyConsent } from '../../test/family-consent.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { chromiumAvailable, launchBrowser, log, OUTPUT_DIR, signIn, watchErrors } from './browser.ts';

const PASSWORD = 'correct horse battery staple';
const FAMILY_PASSWORD = 'lucia-visits-2026';
const PHONE = { width: 390, height: 844 };
const ESI = 'https://emergisphere.dev/fhir/CodeSystem/esi';
const STEP_TIMEOUT = 30_000;
const min = 60_000;

let t: TestServer;
let browser: Browser;
let ana: WithId<Patient>;
let bo: WithId<Patient>;
let lucia: WithId<RelatedPerson>;
let chidi: WithId<RelatedPerson>;
let anaVisit: WithId<Encounter>;
let boVisit: WithId<Encounter>;
let clinician: Page;
let family: Page;
const errors: string[][] = [];
/** The family page's websocket, proxied so the test can drop it; while `refuse`, reconnections are dropped too. */
const socket: { route?: WebSocketRoute; refuse: boolean; opened: number } = { refuse: false, opened: 0 };

const shot = (page: Page, name: string) => page.screenshot({ path: join(OUTPUT_DIR, `family-${name}.png`), fullPage: true });

function visit(patient: Patient | undefined, minutesAgo: number, over: Partial<Encounter> = {}): Encounter {
  return {
    resourceType: 'Encounter',
    status: 'triaged',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    ...(patient ? { subject: { reference: `Patient/${patient.id}` } } : {}),
    period: { start: new Date(Date.now() - minutesAgo * min).toISOString() },
    priority: { coding: [{ system: ESI, code: '3' }] },
    reasonCode: [{ text: 'fall from ladder, suspected non-accidental injury' }],
    ...over,
  };
}

async function phonePage(): Promise<Page> {
  const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  errors.push(watchErrors(page));
  return page;
}

describe.skipIf(!chromiumAvailable())('the family status page in a browser', () => {
  beforeAll(async () => {
    await buildApp();
    t = await startTestServer();
    const admin = t.medplum;
    await createUser(t.server.app.repo(), t.server.bootstrap.project as WithId<Project>, {
      email: 'dr.osei@h.example',
      password: PASSWORD,
      firstName: 'Kofi',
      lastName: 'Osei',
      role: 'ed-physician',
    });
    ana = await admin.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Ana'], family: 'Rivera' }],
      birthDate: '1984-02-03',
    });
    bo = await admin.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Bo'], family: 'Okafor' }],
      birthDate: '1990-07-07',
    });
    lucia = await admin.createResource<RelatedPerson>({
      resourceType: 'RelatedPerson',
      patient: { reference: `Patient/${ana.id}` },
      name: [{ given: ['Lucia'], family: 'Rivera' }],
      telecom: [{ system: 'email', value: 'lucia@family.example' }],
    });
    chidi = await admin.createResource<RelatedPerson>({
      resourceType: 'RelatedPerson',
      patient: { reference: `Patient/${bo.id}` },
      name: [{ given: ['Chidi'], family: 'Okafor' }],
      telecom: [{ system: 'email', value: 'chidi@family.example' }],
    });
    await admin.createResource(familyConsent(`Patient/${ana.id}`, `RelatedPerson/${lucia.id}`));
    await admin.createResource(familyConsent(`Patient/${bo.id}`, `RelatedPerson/${chidi.id}`));
    anaVisit = await admin.createResource(visit(ana, 25));
    boVisit = await admin.createResource(visit(bo, 40));
    // The department's pace: three pickups by a provider in the last two hours (one every 40 min).
    for (const ago of [20, 60, 100]) {
      await admin.createResource(
        visit(undefined, ago + 30, {
          status: 'in-progress',
          participant: [{ type: [{ coding: [{ code: 'ATND' }] }], period: { start: new Date(Date.now() - ago * min).toISOString() } }],
        }),
      );
    }
    // Bo's father is invited through the API (the operation as any client calls it).
    await admin.post(admin.fhirUrl('Patient', bo.id, '$invite-family'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'relatedPerson', valueReference: { reference: `RelatedPerson/${chidi.id}` } },
        { name: 'email', valueString: 'chidi@family.example' },
        { name: 'password', valueString: FAMILY_PASSWORD },
      ],
    });
    browser = await launchBrowser();
    clinician = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    errors.push(watchErrors(clinician));
  }, 180_000);

  afterAll(async () => {
    writeFileSync(join(OUTPUT_DIR, 'family-browser-log.txt'), log.join('\n'));
    await browser?.close();
    await t?.close();
  });

  test('a clinician invites a family member from the chart', async () => {
    await signIn(clinician, t.baseUrl, 'dr.osei@h.example', PASSWORD);
    await clinician.goto(`${t.baseUrl}Encounter/${anaVisit.id}`);
    const panel = clinician.getByTestId('family-panel');
    await panel.getByText('Lucia Rivera').waitFor({ timeout: STEP_TIMEOUT });
    await clinician.getByTestId(`invite-family-${lucia.id}`).click();
    const dialog = clinician.getByRole('dialog');
    expect(await dialog.getByLabel('Email').inputValue()).toBe('lucia@family.example');
    await dialog.getByLabel('Initial password').fill(FAMILY_PASSWORD);
    await dialog.getByRole('button', { name: 'Send invitation' }).click();
    await clinician.getByText('Lucia Rivera can now sign in to follow the visit').waitFor({ timeout: STEP_TIMEOUT });
    await shot(clinician, 'chart-invited');
  });

  test('the family member signs in on a phone and sees the phase and the expected wait, and no ED screen', async () => {
    family = await phonePage();
    await family.routeWebSocket(/\/ws\/subscriptions-r4/, (ws) => {
      if (socket.refuse) {
        void ws.close({ code: 1011, reason: 'test: the network is down' });
        return;
      }
      const server = ws.connectToServer();
      const n = ++socket.opened;
      ws.onMessage((m) => {
        log.push(`fam${n} page> ${String(m).slice(0, 120)}`);
        server.send(m);
      });
      server.onMessage((m) => {
        log.push(`fam${n} server> ${String(m).slice(0, 300)}`);
        ws.send(m);
      });
      ws.onClose(() => log.push(`fam${n} closed by page`));
      server.onClose(() => log.push(`fam${n} closed by server`));
      socket.route = ws;
    });
    await signIn(family, t.baseUrl, 'lucia@family.example', FAMILY_PASSWORD, "Ana Rivera's visit");
    const phase = family.getByTestId('family-phase');
    await expect.poll(() => phase.getAttribute('data-phase'), { timeout: STEP_TIMEOUT }).toBe('arrived');
    expect(await phase.textContent()).toBe('Arrived — waiting to be seen');
    // Bo arrived earlier with the same acuity: one ahead; one pickup every 40 min → 80 minutes.
    expect(await family.getByTestId('family-wait').textContent()).toContain('About 1 h 20 min');
    expect(await family.getByTestId('family-wait').textContent()).toContain('1 ahead in the queue');
    await expect.poll(() => family.getByTestId('family-connection').textContent(), { timeout: STEP_TIMEOUT }).toBe('Live');
    expect(await family.getByRole('link', { name: 'Tracking board' }).count()).toBe(0);
    expect(await family.locator('main').textContent()).not.toContain('ladder');
    // The page fits the phone: nothing wider than the screen.
    expect(await family.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    // Any ED address leads back to the family page.
    await family.goto(`${t.baseUrl}Encounter/${anaVisit.id}`);
    await family.getByTestId('family-phase').waitFor();
    expect(new URL(family.url()).pathname).toBe('/');
    await expect.poll(() => family.getByTestId('family-connection').textContent(), { timeout: STEP_TIMEOUT }).toBe('Live');
    await shot(family, 'phone-arrived');
  });

  test('the page follows the visit live: a provider is assigned → being seen', async () => {
    await family.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await t.medplum.updateResource({
      ...anaVisit,
      status: 'in-progress',
      participant: [{ type: [{ coding: [{ code: 'ATND' }] }], period: { start: new Date().toISOString() } }],
    });
    await expect.poll(() => family.getByTestId('family-phase').getAttribute('data-phase'), { timeout: 10_000 }).toBe('being-seen');
    expect(await family.getByTestId('family-phase').textContent()).toBe('Being seen');
    expect(await family.getByTestId('family-wait').count()).toBe(0);
    expect(await family.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await shot(family, 'phone-being-seen');
  });

  test("a clinician's message to the family appears live", async () => {
    const panel = clinician.getByTestId('family-panel');
    await panel.getByLabel('Message to the family').fill('Ana is with Dr. Osei now. You can come to bay 4 in about 20 minutes.');
    await panel.getByRole('button', { name: 'Send to family' }).click();
    await clinician.getByText('Message sent to Lucia Rivera').waitFor({ timeout: STEP_TIMEOUT });
    const message = family.getByTestId('family-message').first();
    await message.waitFor({ timeout: 10_000 });
    expect(await message.textContent()).toContain('You can come to bay 4 in about 20 minutes.');
    expect(await message.textContent()).toContain('Kofi Osei');
    expect(await family.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await shot(family, 'phone-message');
  });

  test('a dropped connection is shown, re-established, and what was missed meanwhile appears', async () => {
    socket.refuse = true;
    await socket.route?.close({ code: 1011, reason: 'test: the network is down' });
    await expect.poll(() => family.getByTestId('family-connection').textContent(), { timeout: 10_000 }).toBe('Reconnecting…');
    await t.medplum.createResource({
      resourceType: 'Communication',
      status: 'completed',
      recipient: [{ reference: `RelatedPerson/${lucia.id}` }],
      sent: new Date().toISOString(),
      payload: [{ contentString: 'Sent while your connection was down.' }],
    });
    socket.refuse = false;
    await expect.poll(() => family.getByTestId('family-connection').textContent(), { timeout: STEP_TIMEOUT }).toBe('Live');
    await family.getByText('Sent while your connection was down.').waitFor({ timeout: 10_000 });
    expect(await family.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    // Live again: the next change arrives through the new socket.
    await t.medplum.createResource({
      resourceType: 'Communication',
      status: 'completed',
      recipient: [{ reference: `RelatedPerson/${lucia.id}` }],
      sent: new Date().toISOString(),
      payload: [{ contentString: 'And this one live again.' }],
    });
    await family.getByText('And this one live again.').waitFor({ timeout: 10_000 });
    await shot(family, 'phone-reconnected');
  });

  test('a family member of another patient sees nothing of the first, on the page or through the API', async () => {
    const other = await phonePage();
    await signIn(other, t.baseUrl, 'chidi@family.example', FAMILY_PASSWORD, "Bo Okafor's visit");
    await expect.poll(() => other.getByTestId('family-phase').getAttribute('data-phase'), { timeout: STEP_TIMEOUT }).toBe('arrived');
    await other.getByText('No messages yet.').waitFor();
    const body = (await other.locator('main').textContent()) ?? '';
    for (const secret of ['Ana', 'Rivera', 'Lucia', 'bay 4', 'Osei']) {
      expect(body).not.toContain(secret);
    }
    await shot(other, 'phone-other-family');
    // Their own token, straight at the API.
    const token = await other.evaluate(
      () => (JSON.parse(localStorage.getItem('activeLogin') ?? '{}') as { accessToken?: string }).accessToken,
    );
    expect(token).toBeTruthy();
    const api = (path: string) =>
      fetch(`${t.fhirUrl}${path}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' } });
    expect((await api(`Encounter/${anaVisit.id}`)).status).toBe(404);
    expect((await api(`Patient/${ana.id}`)).status).toBe(403);
    expect((await api(`Patient/${ana.id}/$family-status`)).status).toBe(403);
    const encounters = (await (await api('Encounter')).json()) as { entry?: { resource: Encounter }[] };
    expect(encounters.entry?.map((e) => e.resource.id)).toEqual([boVisit.id]);
    const messages = await (await api(`Communication?recipient=RelatedPerson/${lucia.id}`)).text();
    expect(messages).not.toContain('bay 4');
    const mine = await (await api(`Patient/${bo.id}/$family-status`)).text();
    expect(mine).not.toContain('Ana');
    expect(errors.flat()).toEqual([]);
  });
});
