/**
 * Puts the patient in a bed: the bed chosen by acuity (beds.ts), then one transaction that marks
 * the bed occupied and adds it to `Encounter.location`, both with If-Match — two arrivals can
 * never get the same bed; the loser picks again.
 */
import { getStatus, type MedplumClient, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Encounter, Location } from '@medplum/fhirtypes';
import { esiOfPriority } from '../lib/acuity.ts';
import type { StepOutput } from '../lib/workflow-step.ts';
import { chooseBed, isBed } from './beds.ts';
import { BED_STATUS_SYSTEM, LOCATION_PHYSICAL_TYPE_SYSTEM, OCCUPIED } from './codes.ts';

const ATTEMPTS = 4;

export interface BedResult {
  outputs: StepOutput[];
  line: string;
}

export async function assignBed(medplum: MedplumClient, encounterId: string): Promise<BedResult> {
  const tried = new Set<string>();
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const encounter = await medplum.readResource('Encounter', encounterId, { cache: 'no-cache' });
    const current = await currentBed(medplum, encounter);
    if (current) {
      return { outputs: [{ type: 'bed', reference: `Location/${current.id}` }], line: `Bed: already in ${current.name ?? current.id}.` };
    }
    const beds = (
      await medplum.searchResources(
        'Location',
        { status: 'active', 'operational-status': `${BED_STATUS_SYSTEM}|U`, _count: '500' },
        { cache: 'no-cache' },
      )
    ).filter(isBed);
    const esi = esiOfPriority(encounter.priority);
    const choice = chooseBed(beds, esi, tried, await areasOf(medplum, beds));
    if (!choice.bed) return { outputs: [], line: `Bed: ${choice.reason}.` };
    const bed = choice.bed;
    tried.add(bed.id);
    const now = new Date().toISOString();
    try {
      await medplum.executeBatch({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: { ...bed, operationalStatus: OCCUPIED },
            request: { method: 'PUT', url: `Location/${bed.id}`, ifMatch: `W/"${bed.meta?.versionId}"` },
          },
          {
            resource: {
              ...encounter,
              location: [
                ...(encounter.location ?? []).map((l) =>
                  l.status === 'active' ? { ...l, status: 'completed' as const, period: { ...l.period, end: now } } : l,
                ),
                {
                  location: { reference: `Location/${bed.id}`, display: bed.name },
                  status: 'active',
                  physicalType: { coding: [{ system: LOCATION_PHYSICAL_TYPE_SYSTEM, code: 'bd', display: 'Bed' }] },
                  period: { start: now },
                },
              ],
            },
            request: { method: 'PUT', url: `Encounter/${encounter.id}`, ifMatch: `W/"${encounter.meta?.versionId}"` },
          },
        ],
      });
      return { outputs: [{ type: 'bed', reference: `Location/${bed.id}` }], line: `Bed: ${choice.reason}.` };
    } catch (err) {
      const status = err instanceof OperationOutcomeError ? getStatus(err.outcome) : undefined;
      if (status !== 412 && status !== 409) throw err;
    }
  }
  return { outputs: [], line: `Bed: beds kept being taken while assigning (${ATTEMPTS} attempts); the charge nurse assigns one.` };
}

/** The areas (`partOf`) of the beds, which may carry the zone. */
async function areasOf(medplum: MedplumClient, beds: Location[]): Promise<Map<string, Location>> {
  const refs = [...new Set(beds.flatMap((b) => (b.partOf?.reference?.startsWith('Location/') ? [b.partOf.reference] : [])))];
  const areas = await Promise.all(refs.map((reference) => medplum.readReference<Location>({ reference } as never).catch(() => undefined)));
  return new Map(refs.flatMap((r, i) => (areas[i] ? [[r, areas[i] as Location] as [string, Location]] : [])));
}

async function currentBed(medplum: MedplumClient, encounter: Encounter): Promise<WithId<Location> | undefined> {
  for (const l of encounter.location ?? []) {
    if (l.status !== 'active' && l.status !== 'planned') continue;
    const isBedEntry = l.physicalType?.coding?.some((c) => c.code === 'bd');
    if (isBedEntry && l.location.reference?.startsWith('Location/')) {
      return medplum.readResource('Location', l.location.reference.slice('Location/'.length));
    }
  }
  return undefined;
}
