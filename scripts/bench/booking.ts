/**
 * `npm run bench:booking`: 1,000 booking attempts over 100 slots through the real server
 * (`Appointment/$book`, the scheduling bot), 10 attempts per slot, shuffled, sent concurrently
 * (BOOK_CONCURRENCY in flight, default 100). Checks that exactly 100 succeed, that every other
 * attempt is a 409 with next free slots, and that no slot has two appointments; prints latency.
 */
import type { Bundle, Patient, Schedule, Slot } from '@medplum/fhirtypes';
import { startBenchServer } from './lib/bench-server.ts';
import { runMain } from './lib/cleanup.ts';
import { type Check, fmtMs, log, printChecks, printTable } from './lib/table.ts';

const SLOTS = 100;
const ATTEMPTS = 1000;
const CONCURRENCY = Number(process.env.BOOK_CONCURRENCY ?? 100);
const CARDIOLOGY = { coding: [{ system: 'http://snomed.info/sct', code: '394579002', display: 'Cardiology' }] };

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const { server, token, medplum } = await startBenchServer({
    prefix: 'es_bench_booking',
    env: { GRAPHQL_WARMUP: 'false' },
    bots: ['scheduling'],
  });
  const schedule = await medplum.createResource<Schedule>({
    resourceType: 'Schedule',
    active: true,
    actor: [{ display: 'Bench clinic' }],
    specialty: [CARDIOLOGY],
  });
  const start = Date.now() + 86_400_000;
  const batch: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: SLOTS }, (_, i) => ({
      request: { method: 'POST', url: 'Slot' },
      resource: {
        resourceType: 'Slot',
        schedule: { reference: `Schedule/${schedule.id}` },
        status: 'free',
        specialty: [CARDIOLOGY],
        start: new Date(start + i * 1_200_000).toISOString(),
        end: new Date(start + (i + 1) * 1_200_000).toISOString(),
      } satisfies Slot,
    })),
  };
  const slots = ((await medplum.executeBatch(batch)).entry ?? []).map((e) => e.response?.location?.split('/')[1] as string);
  const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Bench' }] });
  const attempts = slots.flatMap((id) => Array.from({ length: ATTEMPTS / SLOTS }, () => id)).sort(() => Math.random() - 0.5);
  // Warm the bot workers (bundle compiled) with a $find.
  await medplum.get(`${medplum.fhirUrl('Slot', '$find')}?count=1`);
  log(`${ATTEMPTS} attempts over ${SLOTS} slots, ${CONCURRENCY} in flight`);
  const results: { ok: boolean; status: number; ms: number; nextFree: number }[] = [];
  let next = 0;
  const began = performance.now();
  async function worker(): Promise<void> {
    while (next < attempts.length) {
      const slot = attempts[next++];
      const t0 = performance.now();
      const res = await fetch(`${server.url}fhir/R4/Appointment/$book`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Parameters',
          parameter: [
            { name: 'slot', valueReference: { reference: `Slot/${slot}` } },
            { name: 'patient', valueReference: { reference: `Patient/${patient.id}` } },
          ],
        }),
      });
      const body = (await res.json()) as { issue?: { code?: string }[] };
      results.push({
        ok: res.status === 200,
        status: res.status,
        ms: performance.now() - t0,
        nextFree: body.issue?.filter((i) => i.code === 'informational').length ?? 0,
      });
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = performance.now() - began;
  const appointments = await medplum.searchResources('Appointment', { _count: '1000' });
  const perSlot = new Map<string, number>();
  for (const a of appointments)
    for (const s of a.slot ?? []) perSlot.set(s.reference as string, (perSlot.get(s.reference as string) ?? 0) + 1);
  const busy = await medplum.searchResources('Slot', { schedule: `Schedule/${schedule.id}`, status: 'busy', _count: '1000' });
  const rows = (['all', 'booked', 'conflict'] as const).map((kind) => {
    const ms = results
      .filter((r) => kind === 'all' || (kind === 'booked' ? r.ok : r.status === 409))
      .map((r) => r.ms)
      .sort((a, b) => a - b);
    return [kind, ms.length, fmtMs(pct(ms, 50)), fmtMs(pct(ms, 90)), fmtMs(pct(ms, 99)), fmtMs(ms.at(-1))];
  });
  printTable('Appointment/$book latency', ['attempts', 'n', 'p50', 'p90', 'p99', 'max'], rows);
  log(`wall time ${fmtMs(wall)} (${Math.round((ATTEMPTS / wall) * 1000)} attempts/s)`);
  const checks: Check[] = [
    {
      metric: 'successful bookings',
      target: `${SLOTS}`,
      measured: `${results.filter((r) => r.ok).length}`,
      pass: results.filter((r) => r.ok).length === SLOTS,
    },
    {
      metric: '409 conflicts (with next free slots)',
      target: `${ATTEMPTS - SLOTS}`,
      measured: `${results.filter((r) => r.status === 409 && r.nextFree > 0).length}`,
      pass: results.filter((r) => r.status === 409).length === ATTEMPTS - SLOTS,
      note: `statuses ${JSON.stringify([...new Set(results.map((r) => r.status))])}`,
    },
    {
      metric: 'appointments, one per slot',
      target: `${SLOTS}`,
      measured: `${appointments.length}`,
      pass: appointments.length === SLOTS && [...perSlot.values()].every((n) => n === 1),
    },
    { metric: 'busy slots', target: `${SLOTS}`, measured: `${busy.length}`, pass: busy.length === SLOTS },
  ];
  printChecks('checks', checks);
  if (checks.some((c) => c.pass === false)) process.exitCode = 1;
}

runMain(main);
