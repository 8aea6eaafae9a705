// A device alert's transaction, alone: what its conditional entries cost in wall time and CPU.
//
//   node scripts/bench/alert-tx.ts          (npm run bench:alert-tx)
//
// The smart-device agent writes each alert as one transaction Bundle of conditional creates (a Flag
// per finding, the DetectedIssue, the page request, the in-app pages, the workflow request), each
// keyed by an identifier so that two runs seeing the same readings write it once
// (bots/smart-device/alert-transaction.ts). Every conditional entry takes a lock on its criteria and
// searches (server/fhir/criteria-lock.ts). This sends BENCH_ALERTS (default 300) such Bundles of
// seven entries with fresh identifiers, one at a time and then BENCH_CONCURRENCY (default 6) at a
// time, and prints each phase's latency and the server's and PostgreSQL's CPU per Bundle.
// Run it from two checkouts to compare two versions of the write path.
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { accessToken, authHeaders, credentialsFor, serverEnv } from './lib/auth.ts';
import { onCleanup, runMain } from './lib/cleanup.ts';
import { cpuBetween, cpuSnapshot, setBenchDatabase, waitServerSettled } from './lib/cpu.ts';
import { percentile } from './lib/load.ts';
import { ADMIN_URL, createDatabase, dropDatabase, scratchName } from './lib/pg.ts';
import { startServerProcess } from './lib/server-process.ts';
import { fmtMs, log, printTable } from './lib/table.ts';

const num = (v: string | undefined, d: number): number => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const ALERTS = num(process.env.BENCH_ALERTS, 300);
const CONCURRENCY = num(process.env.BENCH_CONCURRENCY, 6);
const KEY_SYSTEM = 'https://emergisphere.dev/fhir/device-alert';

/** An alert as the smart-device agent writes it: seven conditional creates, keyed like its own. */
function alertBundle(key: string, patient: string): Bundle {
  const patientRef = { reference: patient };
  const conditional = (resource: Record<string, unknown>, part: string, n: number): BundleEntry => {
    const value = `${part}|${key}`;
    return {
      fullUrl: `urn:uuid:5d0b1e7a-0000-4000-8000-${String(n).padStart(12, '0')}`,
      resource: { ...resource, identifier: [{ system: KEY_SYSTEM, value }] } as BundleEntry['resource'],
      request: {
        method: 'POST',
        url: resource.resourceType as string,
        ifNoneExist: `identifier=${encodeURIComponent(`${KEY_SYSTEM}|${value}`)}`,
      },
    };
  };
  const flag = (code: string) => ({ resourceType: 'Flag', status: 'active', code: { text: code }, subject: patientRef });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      conditional(flag('SpO2 critically low'), 'flag-spo2', 0),
      conditional(flag('heart rate critically high'), 'flag-hr', 1),
      conditional({ resourceType: 'DetectedIssue', status: 'final', patient: patientRef, detail: 'bench' }, 'issue', 2),
      conditional({ resourceType: 'CommunicationRequest', status: 'active', priority: 'stat', subject: patientRef }, 'page', 3),
      conditional({ resourceType: 'Communication', status: 'in-progress', priority: 'stat', subject: patientRef }, 'page-to-1', 4),
      conditional({ resourceType: 'Communication', status: 'in-progress', priority: 'stat', subject: patientRef }, 'page-to-2', 5),
      conditional({ resourceType: 'Task', status: 'requested', intent: 'order', priority: 'stat', for: patientRef }, 'workflow', 6),
    ],
  };
}

async function main(): Promise<void> {
  const name = scratchName('es_alerttx');
  const databaseUrl = await createDatabase(ADMIN_URL, name);
  onCleanup(`drop database ${name}`, () => dropDatabase(ADMIN_URL, name));
  setBenchDatabase(name);
  const creds = await credentialsFor(databaseUrl);
  // No subscription workers: the Bundles' own cost, not the bots a real alert sets off.
  const server = await startServerProcess({ databaseUrl, env: { ...serverEnv(creds), SUBSCRIPTION_WORKERS: 'false' } });
  onCleanup('stop server', () => server.stop().then(() => undefined));
  const headers = {
    'content-type': 'application/fhir+json',
    accept: 'application/fhir+json',
    ...authHeaders(await accessToken(server.url, creds)),
  };
  const post = async (body: unknown): Promise<Bundle> => {
    const res = await fetch(server.fhirUrl, { method: 'POST', headers, body: JSON.stringify(body) });
    const json = (await res.json()) as Bundle;
    if (res.status !== 200) throw new Error(`transaction answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
    return json;
  };
  const patient = await fetch(`${server.fhirUrl}Patient`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Patient' }) });
  const patientRef = `Patient/${((await patient.json()) as { id: string }).id}`;
  let n = 0;
  // Warm-up: plans, prepared statements, the JIT.
  for (let i = 0; i < 50; i++) await post(alertBundle(`warm-${n++}`, patientRef));
  const rows: string[][] = [];
  for (const concurrency of [1, CONCURRENCY]) {
    await waitServerSettled(server.pid, 30);
    const label = `${concurrency} at a time`;
    const times: number[] = [];
    const before = cpuSnapshot(server.pid);
    let next = 0;
    const worker = async () => {
      while (next < ALERTS) {
        next++;
        const t0 = performance.now();
        const reply = await post(alertBundle(`alert-${n++}`, patientRef));
        times.push(performance.now() - t0);
        if (reply.entry?.some((e) => e.response?.status !== '201')) throw new Error('an alert entry was not created');
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const after = cpuSnapshot(server.pid);
    const cpu = cpuBetween(before, after);
    const seconds = (after.at - before.at) / 1000;
    const perBundle = (p: number) => ((p * 10 * seconds) / ALERTS).toFixed(2);
    times.sort((a, b) => a - b);
    log(`${label}: ${ALERTS} alerts in ${seconds.toFixed(1)} s`);
    rows.push([
      label,
      String(ALERTS),
      fmtMs(percentile(times, 50)),
      fmtMs(percentile(times, 90)),
      fmtMs(percentile(times, 99)),
      `${(ALERTS / seconds).toFixed(0)}/s`,
      perBundle(cpu.server),
      perBundle(cpu.postgres),
    ]);
  }
  printTable(
    'Device alert transaction (7 conditional creates, fresh identifiers)',
    ['Phase', 'Bundles', 'p50', 'p90', 'p99', 'rate', 'server ms/Bundle', 'PostgreSQL ms/Bundle'],
    rows,
  );
}

runMain(main);
