/**
 * The clinician app in a real browser (Debian's headless Chromium via playwright-core), served by
 * the real server on a real database with the workflow, triage, smart-device and communication
 * bots deployed. One browser and one server for the whole file. Screenshots: test-output/app/.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Appointment, Bundle, Device, Encounter, Patient, Project, Slot, Subscription } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../scripts/build-app.ts';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { seed } from '../../scripts/seed.ts';
import { createUser } from '../../server/auth/admin.ts';
import { type HookReceiver, startHookReceiver } from '../../test/hook-receiver.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { chromiumAvailable, launchBrowser, log, OUTPUT_DIR, signIn, watchErrors } from './browser.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOINC = 'http://loinc.org';
const STEP_TIMEOUT = 30_000;

let t: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];
let hooks: HookReceiver;

const shot = (name: string) => page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true });
const row = (encounterId: string) => page.locator(`[data-testid="board-row"][data-encounter="${encounterId}"]`);

async function arrival(family: string, complaint: string): Promise<{ patient: Patient; encounter: Encounter }> {
  const result = await t.medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:6f1c0d2e-0000-4000-8000-000000000001',
        request: { method: 'POST', url: 'Patient' },
        resource: { resourceType: 'Patient', name: [{ family }], gender: 'female', birthDate: '1950-05-05' },
      },
      {
        request: { method: 'POST', url: 'Encounter' },
        resource: {
          resourceType: 'Encounter',
          status: 'arrived',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
          subject: { reference: 'urn:uuid:6f1c0d2e-0000-4000-8000-000000000001' },
          period: { start: new Date().toISOString() },
          reasonCode: [{ text: complaint }],
        },
      },
    ],
  } as Bundle);
  const [p, e] = (result.entry ?? []).map((x) => x.response?.location?.split('/_history')[0] as string);
  return {
    patient: (await t.medplum.readReference({ reference: p })) as Patient,
    encounter: (await t.medplum.readReference({ reference: e })) as Encounter,
  };
}

describe.skipIf(!chromiumAvailable())('the clinician app in a browser', () => {
  beforeAll(async () => {
    await buildApp();
    t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
    await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'triage', 'smart-device', 'communication', 'scheduling'] });
    // The clinics' schedules and free slots, for booking follow-ups.
    await seed(t.medplum, { dir: resolve(ROOT, 'seed'), days: 31, patients: 0 });
    hooks = await startHookReceiver();
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    errors = watchErrors(page);
  }, 180_000);

  afterAll(async () => {
    writeFileSync(join(OUTPUT_DIR, 'browser-log.txt'), log.join('\n'));
    await browser?.close();
    await hooks?.close();
    await t?.close();
  });

  test(
    'sign in with the password form; the empty board is live',
    async () => {
      await signIn(page, t.baseUrl, t.admin.email, t.admin.password);
      await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: STEP_TIMEOUT });
      await expect(page.getByTestId('board-empty').textContent()).resolves.toContain('No patients');
      await shot('01-board-empty');
    },
    STEP_TIMEOUT * 2,
  );

  let encounterId: string;
  test(
    'a new arrival from the form appears on the board; triage level appears without reload; the chart shows the rationale',
    async () => {
      await page.getByTestId('new-arrival').click();
      await page.getByLabel('Family name').fill('Moreau');
      await page.getByLabel('Given name').fill('Luc');
      await page.getByLabel('Chief complaint').fill('ant. chest pain radiating to L arm, diaphoretic');
      await page.getByRole('button', { name: 'Register arrival' }).click();
      const first = page.getByTestId('board-row').filter({ hasText: 'Luc Moreau' });
      await first.waitFor({ timeout: STEP_TIMEOUT });
      encounterId = (await first.getAttribute('data-encounter')) as string;
      // The triage bot's result arrives over the websocket: no reload in between.
      await row(encounterId).locator('[data-testid="esi"][data-esi="2"]').waitFor({ timeout: STEP_TIMEOUT });
      await row(encounterId).locator('[data-step="triage"][data-status="completed"]').waitFor({ timeout: STEP_TIMEOUT });
      await shot('02-board-triaged');
      await row(encounterId).getByTestId('patient-link').click();
      await page.getByRole('tab', { name: 'Triage' }).click();
      const rationale = page.getByTestId('triage-rationale');
      await rationale.waitFor();
      expect(await rationale.textContent()).toMatch(/chest pain/i);
      await page.getByRole('tab', { name: 'Workflow' }).click();
      await page.getByTestId('workflow-table').waitFor();
      await shot('03-chart-workflow');
    },
    STEP_TIMEOUT * 3,
  );

  test(
    'a clinician override changes the board',
    async () => {
      await page.getByTestId('override-acuity').click();
      await page.getByTestId('override-level').click();
      await page.getByRole('option', { name: 'ESI 1' }).click();
      await page.getByLabel('Reason').fill('Looks grey and clammy at the door');
      await page.getByRole('button', { name: 'Set acuity' }).click();
      await page.getByText('Acuity set to ESI 1').waitFor({ timeout: STEP_TIMEOUT });
      await page.getByRole('link', { name: 'Tracking board' }).click();
      await row(encounterId).locator('[data-testid="esi"][data-esi="1"]').waitFor({ timeout: STEP_TIMEOUT });
      // And live: an override written elsewhere (the same clinician on another workstation) reaches the open board.
      const elsewhere = t.anonymousClient();
      const login = await elsewhere.startLogin({ email: t.admin.email, password: t.admin.password });
      await elsewhere.processCode(login.code as string);
      await elsewhere.post(elsewhere.fhirUrl('Encounter', '$workflow-override'), {
        resourceType: 'Parameters',
        parameter: [
          { name: 'encounter', valueReference: { reference: `Encounter/${encounterId}` } },
          { name: 'action', valueCode: 'set-acuity' },
          { name: 'acuity', valueInteger: 3 },
          { name: 'reason', valueString: 'Re-assessed: stable, pain resolved' },
        ],
      });
      await row(encounterId).locator('[data-testid="esi"][data-esi="3"]').waitFor({ timeout: STEP_TIMEOUT });
      await shot('04-board-override');
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'a critical device Observation raises a visible alert on the board',
    async () => {
      const { patient, encounter } = await arrival('Wearer', 'feels faint');
      await row(encounter.id as string).waitFor({ timeout: STEP_TIMEOUT });
      const device = await t.medplum.createResource<Device>({
        resourceType: 'Device',
        status: 'active',
        serialNumber: 'OX-APP-1',
        deviceName: [{ name: 'Pulse oximeter', type: 'user-friendly-name' }],
        patient: { reference: `Patient/${patient.id}` },
      });
      await t.medplum.createResource({
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: LOINC, code: '59408-5' }] },
        subject: { reference: `Patient/${patient.id}` },
        device: { reference: `Device/${device.id}` },
        effectiveDateTime: new Date().toISOString(),
        valueQuantity: { value: 79, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
      });
      await row(encounter.id as string)
        .getByTestId('alert')
        .first()
        .waitFor({ timeout: STEP_TIMEOUT });
      await shot('05-board-device-alert');
      await page.getByRole('link', { name: 'Devices' }).click();
      await page.getByTestId('device-row').first().waitFor();
      await shot('06-devices');
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'a dead letter is listed on the admin screen and its replay delivers it',
    async () => {
      hooks.status = () => 500;
      const sub = await t.medplum.createResource<Subscription>({
        resourceType: 'Subscription',
        status: 'active',
        reason: 'app test: failing endpoint',
        criteria: 'Practitioner?name=Deadletter',
        channel: { type: 'rest-hook', endpoint: hooks.url, payload: 'application/fhir+json' },
        extension: [{ url: 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts', valueInteger: 1 }],
      });
      const practitioner = await t.medplum.createResource({ resourceType: 'Practitioner', name: [{ family: 'Deadletter' }] });
      await hooks.waitFor((all) => all.some((h) => h.resource.id === practitioner.id));
      await page.getByRole('link', { name: 'Integration & bots' }).click();
      const deadTab = page.getByRole('tab', { name: 'Dead letters' });
      const letter = page.getByTestId('dead-letter').filter({ hasText: `Practitioner/${practitioner.id}` });
      for (let i = 0; i < 20 && !(await letter.count()); i++) {
        await page.getByRole('tab', { name: 'Bots' }).click();
        await deadTab.click();
        await page.waitForTimeout(250);
      }
      await letter.waitFor({ timeout: STEP_TIMEOUT });
      await shot('07-admin-dead-letters');
      hooks.status = () => 200;
      const before = hooks.received.length;
      await letter.getByTestId('replay').click();
      await hooks.waitFor((all) => all.length > before && all.slice(before).some((h) => h.resource.id === practitioner.id));
      await letter.waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
      await page.getByRole('tab', { name: 'Bots' }).click();
      await page.getByTestId('bot-execution').first().waitFor({ timeout: STEP_TIMEOUT });
      await shot('08-admin-bots');
      expect(sub.id).toBeTruthy();
    },
    STEP_TIMEOUT * 2,
  );

  test(
    'book a follow-up: free slots from Slot/$find, Appointment/$book; a slot taken meanwhile is a clear 409',
    async () => {
      await page.getByRole('link', { name: 'Tracking board' }).click();
      await row(encounterId).getByTestId('patient-link').click();
      await page.getByTestId('book-follow-up').click();
      await page.getByTestId('find-slots').click();
      const slots = page.getByTestId('free-slot');
      await slots.first().waitFor({ timeout: STEP_TIMEOUT });
      await shot('09-follow-up-slots');
      // Someone else takes the first offered slot before this clinician clicks it.
      const takenId = (await slots.first().getAttribute('data-slot')) as string;
      const other = await t.medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Elsewhere' }] });
      await t.medplum.post(t.medplum.fhirUrl('Appointment', '$book'), {
        resourceType: 'Parameters',
        parameter: [
          { name: 'slot', valueReference: { reference: `Slot/${takenId}` } },
          { name: 'patient', valueReference: { reference: `Patient/${other.id}` } },
        ],
      });
      await slots.first().getByRole('button', { name: 'Book' }).click();
      const conflict = page.getByTestId('booking-conflict');
      await conflict.waitFor({ timeout: STEP_TIMEOUT });
      expect(await conflict.textContent()).toContain(`Slot/${takenId} is no longer free`);
      await shot('10-follow-up-conflict');
      // The 409 is the expected answer here, not an app error.
      for (let i = errors.length - 1; i >= 0; i--) if (/409/.test(errors[i])) errors.splice(i, 1);
      // The next free slots the 409 named are offered; booking one succeeds.
      const next = page.getByTestId('free-slot').first();
      await next.waitFor({ timeout: STEP_TIMEOUT });
      const nextId = (await next.getAttribute('data-slot')) as string;
      expect(nextId).not.toBe(takenId);
      await next.getByRole('button', { name: 'Book' }).click();
      await page.getByText('Follow-up booked for').waitFor({ timeout: STEP_TIMEOUT });
      const booked = await t.medplum.searchResources('Appointment', { slot: `Slot/${nextId}` }, { cache: 'no-cache' });
      expect(booked.map((a: Appointment) => a.status)).toEqual(['booked']);
      const patientRef = (await t.medplum.readResource('Encounter', encounterId)).subject?.reference;
      expect(booked[0].participant.some((p) => p.actor?.reference === patientRef)).toBe(true);
      expect((await t.medplum.readResource('Slot', nextId, { cache: 'no-cache' })).status).toBe<Slot['status']>('busy');
    },
    STEP_TIMEOUT * 3,
  );

  test(
    'a registration clerk sees the board but no clinical tabs or notes',
    async () => {
      const project = await t.server.app.repo().readResource<Project>('Project', t.server.bootstrap.project.id);
      const email = 'clerk@example.org';
      const password = 'clerk password 123';
      await createUser(t.server.app.repo(), project, { email, password, firstName: 'Rita', lastName: 'Desk', role: 'registration-clerk' });
      const { encounter } = await arrival('Clerkview', 'twisted ankle');
      const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
      try {
        const clerk = await context.newPage();
        await signIn(clerk, t.baseUrl, email, password);
        const clerkRow = clerk.locator(`[data-testid="board-row"][data-encounter="${encounter.id}"]`);
        await clerkRow.waitFor({ timeout: STEP_TIMEOUT });
        expect(await clerkRow.textContent()).toContain('Clerkview');
        await clerk.screenshot({ path: join(OUTPUT_DIR, '11-clerk-board.png'), fullPage: true });
        await clerkRow.getByTestId('patient-link').click();
        await clerk.getByRole('tab', { name: 'Summary' }).waitFor({ timeout: STEP_TIMEOUT });
        const tabs = await clerk.getByRole('tab').allTextContents();
        expect(tabs).not.toContain('Vital signs');
        expect(tabs).not.toContain('Triage');
        expect(await clerk.getByTestId('triage-rationale').count()).toBe(0);
        expect(await clerk.getByTestId('override-acuity').count()).toBe(0);
        expect(await clerk.getByTestId('record-vitals').count()).toBe(0);
        await clerk.screenshot({ path: join(OUTPUT_DIR, '12-clerk-chart.png'), fullPage: true });
      } finally {
        await context.close();
      }
    },
    STEP_TIMEOUT * 2,
  );

  test('no console errors on any screen', () => {
    expect(errors).toEqual([]);
  });
});
