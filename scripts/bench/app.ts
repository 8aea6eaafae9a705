// The clinician app with 200 active ED encounters, in Debian's headless Chromium:
// - board first render: from submitting the password to all 200 rows on screen;
// - live update: from a committed write (an acuity change) to the changed row on the open board;
// - the app's JavaScript, gzipped.
// Starts `node server/index.ts` on a fresh scratch database (DATABASE_URL's server); no bots.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Bundle, BundleEntry, Encounter } from '@medplum/fhirtypes';
import { chromiumAvailable, launchBrowser } from '../../app/tests/browser.ts';
import { buildApp } from '../build-app.ts';
import { authHeaders } from './lib/auth.ts';
import { startBenchServer } from './lib/bench-server.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { REPO_ROOT } from './lib/server-process.ts';
import { fmtMs, log, printChecks } from './lib/table.ts';

const ENCOUNTERS = Number(process.env.BENCH_APP_ENCOUNTERS ?? 200);
const LIVE_SAMPLES = 5;
const ES = 'https://emergisphere.dev/fhir';

function jsGzipBytes(): number {
  const dir = join(REPO_ROOT, 'app/dist/assets');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .reduce((sum, f) => sum + gzipSync(readFileSync(join(dir, f))).length, 0);
}

function priority(esi: number): Encounter['priority'] {
  return { coding: [{ system: `${ES}/CodeSystem/esi`, code: String(esi), display: `ESI ${esi}` }] };
}

async function main(): Promise<void> {
  if (!chromiumAvailable()) throw new Error('Chromium is not installed (apt-get install -y chromium)');
  await buildApp();
  const password = randomBytes(12).toString('hex');
  const { server, token } = await startBenchServer({
    prefix: 'es_bench_app',
    env: { ADMIN_EMAIL: 'bench@example.org', ADMIN_PASSWORD: password, DEPLOY_BOTS: 'false', HL7_BRIDGE: 'false' },
  });
  const headers = { ...authHeaders(token), 'content-type': 'application/fhir+json' };
  const fhir = async <T>(method: string, path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${server.fhirUrl}${path}`, { method, headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };

  log(`loading ${ENCOUNTERS} active ED encounters`);
  const encounterIds: string[] = [];
  for (let start = 0; start < ENCOUNTERS; start += 50) {
    const entry: BundleEntry[] = [];
    for (let i = start; i < Math.min(ENCOUNTERS, start + 50); i++) {
      const p = `urn:uuid:${crypto.randomUUID()}`;
      const e = `urn:uuid:${crypto.randomUUID()}`;
      entry.push(
        {
          fullUrl: p,
          request: { method: 'POST', url: 'Patient' },
          resource: {
            resourceType: 'Patient',
            name: [{ family: `Bench${i}`, given: ['Pat'] }],
            gender: i % 2 ? 'male' : 'female',
            birthDate: '1970-01-01',
          },
        },
        {
          fullUrl: e,
          request: { method: 'POST', url: 'Encounter' },
          resource: {
            resourceType: 'Encounter',
            status: 'triaged',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
            subject: { reference: p },
            period: { start: new Date(Date.now() - i * 60_000).toISOString() },
            reasonCode: [{ text: 'abd pain' }],
            priority: priority(2 + (i % 4)),
          },
        },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [{ system: `${ES}/CodeSystem/observation-code`, code: 'news2' }] },
            subject: { reference: p },
            encounter: { reference: e },
            effectiveDateTime: new Date().toISOString(),
            valueInteger: i % 8,
          },
        },
      );
    }
    const result = await fhir<Bundle>('POST', '', { resourceType: 'Bundle', type: 'transaction', entry });
    for (const r of result.entry ?? []) {
      const loc = r.response?.location ?? '';
      if (loc.includes('Encounter/')) encounterIds.push(loc.split('Encounter/')[1].split('/')[0]);
    }
  }

  const browser = await launchBrowser();
  onCleanup('close browser', () => browser.close());
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  // Sign-in form filled; the clock starts at the password submit.
  await page.goto(server.url);
  await page.waitForURL(/\/signin/);
  await page.getByLabel('Email', { exact: false }).first().fill('bench@example.org');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('input[name="password"]').fill(password);
  // Every request from the submit to the full board, for the breakdown printed below.
  const requests: { url: string; start: number; end: number }[] = [];
  const startedAt = new Map<unknown, number>();
  page.on('request', (r) => startedAt.set(r, performance.now()));
  page.on('requestfinished', (r) => requests.push({ url: r.url(), start: startedAt.get(r) ?? 0, end: performance.now() }));
  const t0 = performance.now();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="board-row"]').length >= n, ENCOUNTERS, { timeout: 60_000 });
  const firstRender = performance.now() - t0;
  page.removeAllListeners('request');
  page.removeAllListeners('requestfinished');
  log('requests until the board rendered (ms from submit: start → end):');
  for (const r of requests.filter((q) => q.start >= t0).sort((a, b) => a.start - b.start)) {
    const u = new URL(r.url);
    log(
      `  ${(r.start - t0).toFixed(0).padStart(5)} → ${(r.end - t0).toFixed(0).padStart(5)}  ${decodeURIComponent(u.pathname + u.search).slice(0, 110)}`,
    );
  }
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 30_000 });

  const live: number[] = [];
  for (let i = 0; i < LIVE_SAMPLES; i++) {
    const id = encounterIds[i * 7];
    const current = (await (await fetch(`${server.fhirUrl}Encounter/${id}`, { headers })).json()) as Encounter;
    const target = i % 2 ? 1 : 5;
    const start = performance.now();
    await fhir('PUT', `Encounter/${id}`, { ...current, priority: priority(target) });
    await page
      .locator(`[data-testid="board-row"][data-encounter="${id}"] [data-testid="esi"][data-esi="${target}"]`)
      .waitFor({ timeout: 10_000 });
    live.push(performance.now() - start);
  }
  live.sort((a, b) => a - b);
  const jsBytes = jsGzipBytes();

  const median = live[Math.floor(live.length / 2)];
  printChecks(`Clinician app, ${ENCOUNTERS} active encounters (headless Chromium)`, [
    { metric: 'board first render after sign-in', target: '≤ 1.5 s', measured: fmtMs(firstRender), pass: firstRender <= 1500 },
    { metric: `live update (median of ${LIVE_SAMPLES})`, target: '≤ 1 s', measured: fmtMs(median), pass: median <= 1000 },
    {
      metric: 'live update (worst)',
      target: '≤ 1 s',
      measured: fmtMs(live.at(-1)),
      pass: (live.at(-1) ?? Number.POSITIVE_INFINITY) <= 1000,
    },
    { metric: 'app JavaScript, gzipped', target: '≤ 1 MB', measured: `${(jsBytes / 1024).toFixed(0)} KB`, pass: jsBytes <= 1024 * 1024 },
  ]);
}

runMain(main);
