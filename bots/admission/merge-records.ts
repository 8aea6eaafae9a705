/**
 * Merging one patient record into another on the server: read what the merged record's
 * compartment holds (`Patient/{id}/$everything`), write the merge plan (identity.ts) as one
 * transaction. Every update carries If-Match: if anything changed meanwhile the transaction fails
 * whole and is planned again.
 */
import { getStatus, type MedplumClient, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Bundle, Patient, Reference, Resource } from '@medplum/fhirtypes';
import { AGENT } from './agent.ts';
import { mergePlan } from './identity.ts';

/** While the encounter's workflow is running, other agents keep writing to the record: retry a few times. */
const ATTEMPTS = 6;

async function compartment(medplum: MedplumClient, patientId: string): Promise<Resource[]> {
  const resources: Resource[] = [];
  let url: string | undefined = `${medplum.fhirUrl('Patient', patientId, '$everything')}?_count=1000`;
  for (let page = 0; url && page < 50; page++) {
    const bundle = (await medplum.get(url, { cache: 'no-cache' })) as Bundle;
    for (const e of bundle.entry ?? []) if (e.resource) resources.push(e.resource);
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return resources;
}

export interface MergeResult {
  target: WithId<Patient>;
  moved: string[];
  provenance?: string;
}

export async function mergeRecords(
  medplum: MedplumClient,
  sourceId: string,
  targetId: string,
  decidedBy: Reference,
  reason: string,
): Promise<MergeResult> {
  for (let attempt = 1; ; attempt++) {
    const source = await medplum.readResource('Patient', sourceId, { cache: 'no-cache' });
    const target = await medplum.readResource('Patient', targetId, { cache: 'no-cache' });
    const plan = mergePlan({
      source,
      target,
      resources: await compartment(medplum, sourceId),
      decidedBy,
      bot: AGENT,
      reason,
      now: new Date().toISOString(),
    });
    try {
      const result = await medplum.executeBatch(plan.bundle);
      const failed = result.entry?.find((e) => e.response?.status && !e.response.status.startsWith('2'));
      if (failed) throw new Error(`The merge transaction failed: ${failed.response?.status}`);
      const provenance = result.entry?.find((e) => e.response?.location?.includes('Provenance/'))?.response?.location;
      return {
        target: await medplum.readResource('Patient', targetId, { cache: 'no-cache' }),
        moved: plan.moved,
        provenance: provenance?.replace(/^.*?(Provenance\/[^/]+).*$/, '$1'),
      };
    } catch (err) {
      // Someone changed one of the records meanwhile (412/409): plan again from what is there now.
      const status = err instanceof OperationOutcomeError ? getStatus(err.outcome) : undefined;
      if (attempt >= ATTEMPTS || (status !== 412 && status !== 409)) throw err;
      // A short, growing, jittered pause lets the concurrent writer finish before we plan again.
      await new Promise((r) => setTimeout(r, 50 * attempt + Math.floor(Math.random() * 100)));
    }
  }
}
