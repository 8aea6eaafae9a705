/**
 * Reads what billing needs about a visit: the catalog, the services found in the record
 * (completed Procedures and their used supplies, final laboratory Observations, imaging
 * DiagnosticReports), the ESI level, the triage step's state, and the patient's Coverage with
 * its latest CoverageEligibilityResponse (written by the admission agent).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type {
  ChargeItemDefinition,
  Coverage,
  CoverageEligibilityResponse,
  DiagnosticReport,
  Encounter,
  Observation,
  Procedure,
} from '@medplum/fhirtypes';
import { esiOfPriority } from '../lib/acuity.ts';
import { STEP_SYSTEM } from '../lib/workflow.ts';
import { type CatalogEntry, catalogFrom, type ServiceDone, type VisitFacts } from './charges.ts';
import { isEmergency } from './screening.ts';

const NO_CACHE = { cache: 'no-cache' } as const;

export async function loadCatalog(medplum: MedplumClient): Promise<CatalogEntry[]> {
  const defs: ChargeItemDefinition[] = await medplum.searchResources(
    'ChargeItemDefinition',
    { status: 'active', _count: '1000' },
    NO_CACHE,
  );
  return catalogFrom(defs);
}

export async function loadFacts(medplum: MedplumClient, encounter: WithId<Encounter>): Promise<VisitFacts> {
  const enc = `Encounter/${encounter.id}`;
  const [procedures, labs, reports] = await Promise.all([
    medplum.searchResources('Procedure', { encounter: enc, status: 'completed', _count: '200' }, NO_CACHE),
    medplum.searchResources('Observation', { encounter: enc, category: 'laboratory', _count: '500' }, NO_CACHE),
    medplum.searchResources('DiagnosticReport', { encounter: enc, _count: '200' }, NO_CACHE),
  ]);
  const services: ServiceDone[] = [];
  for (const p of procedures as WithId<Procedure>[]) {
    services.push({ source: `Procedure/${p.id}`, codings: p.code?.coding ?? [] });
    (p.usedCode ?? []).forEach((u, i) => {
      services.push({ source: `Procedure/${p.id}#used-${i}`, codings: u.coding ?? [] });
    });
  }
  // One line per ordered test: a panel's members share the panel's charge.
  for (const o of labs as WithId<Observation>[]) {
    if (o.status === 'cancelled' || o.status === 'entered-in-error') continue;
    services.push({ source: `Observation/${o.id}`, codings: o.code?.coding ?? [] });
  }
  for (const r of reports as WithId<DiagnosticReport>[]) {
    if (r.status === 'cancelled' || r.status === 'entered-in-error') continue;
    if (r.category?.some((c) => c.coding?.some((x) => x.code === 'LAB'))) continue;
    services.push({ source: `DiagnosticReport/${r.id}`, codings: r.code?.coding ?? [] });
  }
  const priorVisits = isEmergency(encounter)
    ? []
    : await medplum.searchResources(
        'Encounter',
        { subject: encounter.subject?.reference ?? '', status: 'finished', _count: '2' },
        NO_CACHE,
      );
  return {
    emergency: isEmergency(encounter),
    esi: esiOfPriority(encounter.priority),
    newPatient: priorVisits.filter((e) => e.id !== encounter.id).length === 0,
    services,
  };
}

export async function triageCompleted(medplum: MedplumClient, encounterId: string): Promise<boolean> {
  const task = await medplum.searchOne(
    'Task',
    { focus: `Encounter/${encounterId}`, code: `${STEP_SYSTEM}|triage`, status: 'completed' },
    NO_CACHE,
  );
  return !!task;
}

export async function loadCoverage(
  medplum: MedplumClient,
  patientRef: string,
): Promise<{ coverage?: WithId<Coverage>; eligibility?: CoverageEligibilityResponse }> {
  const coverage = await medplum.searchOne('Coverage', { beneficiary: patientRef, status: 'active', _sort: '-_lastUpdated' }, NO_CACHE);
  if (!coverage) return {};
  const eligibility = await medplum.searchOne('CoverageEligibilityResponse', { patient: patientRef, _sort: '-_lastUpdated' }, NO_CACHE);
  return { coverage, eligibility };
}
