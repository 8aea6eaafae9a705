import type { MedplumClient } from '@medplum/core';
import type { CommunicationRequest } from '@medplum/fhirtypes';

/**
 * Marks an active request `completed` (with a note), guarded by `If-Match`; after a conflicting
 * write it re-reads and tries again. Returns false when the request was no longer active.
 */
export async function completeRequest(medplum: MedplumClient, request: CommunicationRequest, note: string, now: Date): Promise<boolean> {
  let current = request;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (current.status !== 'active') return false;
    try {
      await medplum.updateResource<CommunicationRequest>(
        { ...current, status: 'completed', note: [...(current.note ?? []), { text: note, time: now.toISOString() }] },
        { headers: { 'If-Match': `W/"${current.meta?.versionId}"` } },
      );
      return true;
    } catch (err) {
      const latest = await medplum.readResource('CommunicationRequest', current.id as string, { cache: 'no-cache' });
      if (latest.meta?.versionId === current.meta?.versionId) throw err; // not a conflict
      current = latest;
    }
  }
  throw new Error(`CommunicationRequest/${request.id} keeps changing; not completed`);
}
