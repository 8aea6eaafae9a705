import { getReferenceString, getStatus, isOk, isResource } from '@medplum/core';
import type { FhirRepository, FhirRequest, FhirRouter } from '@medplum/fhir-router';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import pMap from 'p-map';

/** Interactions that change nothing: a batch of only these may run its entries at once. */
const READ_INTERACTIONS = new Set(['read', 'vread', 'search-type', 'search-system', 'history-system', 'history-type', 'history-instance']);

/**
 * Entries a read-only batch runs at once at most, so one request never holds more than this many
 * of the database pool's connections (16 by default) and a few such batches cannot keep writes
 * waiting for one. Further entries start as earlier ones finish.
 */
export const MAX_PARALLEL_READS = 4;

/** Read-only batches up to this size run here; a larger one runs one entry after another (FhirRouter's way). */
export const MAX_READ_BATCH = 20;

/**
 * Whether `body` is a batch Bundle (not a transaction) of at most MAX_READ_BATCH entries, each
 * a GET that the router resolves to a read, version read, search or history. Anything else (a
 * write, an operation, an entry the router rejects) goes through FhirRouter's batch processing,
 * which answers those exactly as before.
 */
export function isReadOnlyBatch(router: FhirRouter, body: unknown): body is Bundle & { entry: BundleEntry[] } {
  const bundle = body as Bundle | undefined;
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'batch' || !Array.isArray(bundle.entry)) return false;
  const entries = bundle.entry;
  if (entries.length === 0 || entries.length > MAX_READ_BATCH) return false;
  return entries.every((e) => {
    const url = e?.request?.url;
    if (e?.request?.method !== 'GET' || typeof url !== 'string' || url === '') return false;
    try {
      const interaction = router.find('GET', url)?.data?.interaction;
      return interaction !== undefined && READ_INTERACTIONS.has(interaction);
    } catch {
      return false; // e.g. an over-long query string: FhirRouter's batch reports it
    }
  });
}

/**
 * A batch of reads and searches with its entries run at once instead of one after another: the
 * entries of a batch are independent (unlike a transaction's), and a bot that gathers what it
 * needs in one batch (the smart-device check reads vitals, alerts, the visit and the on-call
 * teams) then waits for the slowest read, not for their sum. Each entry is answered exactly as
 * FhirRouter's batch answers it: its route's handler, its outcome and status, the location of a
 * read resource.
 */
export async function runReadOnlyBatch(
  router: FhirRouter,
  repo: FhirRepository,
  bundle: Bundle & { entry: BundleEntry[] },
  config: FhirRequest['config'],
): Promise<Bundle> {
  const entry = await pMap(
    bundle.entry,
    async (e): Promise<BundleEntry> => {
      const request: FhirRequest = {
        method: 'GET',
        url: e.request?.url as string,
        pathname: '',
        params: {},
        query: {},
        body: undefined,
        headers: {},
        config,
      };
      const [outcome, resource] = await router.handleRequest(request, repo);
      const ok = isOk(outcome);
      return {
        response: {
          outcome,
          status: String(getStatus(outcome)),
          ...(ok && isResource(resource) && resource.id ? { location: getReferenceString(resource as Bundle & { id: string }) } : {}),
        },
        ...(resource ? { resource: resource as BundleEntry['resource'] } : {}),
      };
    },
    { concurrency: MAX_PARALLEL_READS },
  );
  return { resourceType: 'Bundle', type: 'batch-response', entry };
}
