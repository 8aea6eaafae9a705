/**
 * `npm run bench:terminology`: latency of the endpoints Medplum's tooling calls, through the real
 * server: `ValueSet/$expand` (first call, which reads the base value sets, then warm calls on a
 * small and a large base value set, with and without a filter), `CodeSystem/$lookup`, and a
 * timeline-style `_filter` search over 2,000 Communications against the two plain searches it replaces.
 */
import type { Bundle, Communication, Patient, ValueSet } from '@medplum/fhirtypes';
import { startBenchServer } from './lib/bench-server.ts';
import { runMain } from './lib/cleanup.ts';
import { type Check, fmtMs, log, printChecks, printTable } from './lib/table.ts';

const RUNS = 50;
const COMMUNICATIONS = 2000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timed(fn: () => Promise<unknown>, runs = RUNS): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const { medplum } = await startBenchServer({ prefix: 'es_bench_terminology', env: { GRAPHQL_WARMUP: 'false' } });

  const expand = (params: Record<string, string>) => {
    const url = medplum.fhirUrl('ValueSet', '$expand');
    url.search = new URLSearchParams(params).toString();
    return medplum.get<ValueSet>(url.toString(), { cache: 'no-cache' });
  };
  const GENDER = 'http://hl7.org/fhir/ValueSet/administrative-gender';
  const UCUM = 'http://hl7.org/fhir/ValueSet/ucum-common';
  const first = await timed(() => expand({ url: GENDER }), 1);
  const ucumTotal = (await expand({ url: UCUM })).expansion?.total ?? 0;
  log(`ucum-common expands to ${ucumTotal} codes`);

  const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Bench' }] });
  const ref = `Patient/${patient.id}`;
  const other = await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Other' }] });
  const batch: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: Array.from({ length: COMMUNICATIONS }, (_, i) => ({
      request: { method: 'POST', url: 'Communication' },
      resource: {
        resourceType: 'Communication',
        status: 'completed',
        // 1 in 20 is about our patient (half as subject, half as recipient).
        ...(i % 20 === 0
          ? { subject: { reference: ref } }
          : i % 20 === 1
            ? { recipient: [{ reference: ref }] }
            : { subject: { reference: `Patient/${other.id}` } }),
      } satisfies Communication,
    })),
  };
  await medplum.executeBatch(batch);
  const filterQuery = { _filter: `(subject eq ${ref}) or (recipient eq ${ref})`, _count: '100' };
  const filtered = await medplum.search('Communication', { ...filterQuery, _count: '1000' }, { cache: 'no-cache' });

  const lookupUrl = medplum.fhirUrl('CodeSystem', '$lookup');
  lookupUrl.search = new URLSearchParams({ system: 'http://hl7.org/fhir/administrative-gender', code: 'female' }).toString();

  const rows: [string, number[]][] = [
    ['$expand first call (loads base value sets)', first],
    ['$expand administrative-gender (4 codes)', await timed(() => expand({ url: GENDER }))],
    [`$expand ucum-common (${ucumTotal} codes), count 10`, await timed(() => expand({ url: UCUM }))],
    ['$expand ucum-common filter "milli"', await timed(() => expand({ url: UCUM, filter: 'milli' }))],
    ['$expand our ESI value set', await timed(() => expand({ url: 'https://emergisphere.dev/fhir/ValueSet/esi' }))],
    ['CodeSystem/$lookup', await timed(() => medplum.get(lookupUrl.toString(), { cache: 'no-cache' }))],
    [
      `_filter subject or recipient (${COMMUNICATIONS} Communications)`,
      await timed(() => medplum.search('Communication', filterQuery, { cache: 'no-cache' })),
    ],
    [
      'the same as two plain searches',
      await timed(() =>
        Promise.all([
          medplum.search('Communication', { subject: ref, _count: '100' }, { cache: 'no-cache' }),
          medplum.search('Communication', { recipient: ref, _count: '100' }, { cache: 'no-cache' }),
        ]),
      ),
    ],
  ];
  printTable(
    'terminology and _filter latency (sequential requests)',
    ['request', 'n', 'p50', 'p90', 'max'],
    rows.map(([label, ms]) => [label, ms.length, fmtMs(pct(ms, 50)), fmtMs(pct(ms, 90)), fmtMs(ms[ms.length - 1])]),
  );
  const checks: Check[] = [
    { metric: 'ucum-common expands', target: '> 100 codes', measured: `${ucumTotal}`, pass: ucumTotal > 100 },
    {
      metric: '_filter finds every Communication about the patient',
      target: `${COMMUNICATIONS / 10}`,
      measured: `${filtered.entry?.length}`,
      pass: filtered.entry?.length === COMMUNICATIONS / 10,
    },
  ];
  printChecks('checks', checks);
}

runMain(main);
