/**
 * Reads gathered into one batch Bundle: the server runs a batch of only GETs with its entries at
 * once (server/http/read-batch.ts), so an agent waits for its slowest read, not for their sum.
 */
import { badRequest, type MedplumClient, OperationOutcomeError, type WithId } from '@medplum/core';
import type { BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';

/** Each URL's answer (a read or a search), in the order given. */
export async function batchGet(medplum: MedplumClient, urls: string[]): Promise<(BundleEntry | undefined)[]> {
  const reply = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: urls.map((url) => ({ request: { method: 'GET', url } })),
  });
  return urls.map((_, i) => reply.entry?.[i]);
}

/** Whether the server answered the entry with a 2xx and a resource. */
export function isAnswered(entry: BundleEntry | undefined): entry is BundleEntry & { resource: Resource } {
  return !!entry?.response?.status?.startsWith('2') && !!entry.resource;
}

/** The entry's resource; its error outcome thrown as an OperationOutcomeError otherwise. */
export function resourceOfEntry<T extends Resource>(entry: BundleEntry | undefined, url: string): WithId<T> {
  if (!isAnswered(entry)) {
    throw new OperationOutcomeError((entry?.response?.outcome as OperationOutcome | undefined) ?? badRequest(`No answer for ${url}`));
  }
  return entry.resource as WithId<T>;
}
