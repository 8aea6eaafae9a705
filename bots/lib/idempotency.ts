/**
 * Idempotent effects for bots.
 *
 * Subscriptions deliver at least once: after a crash, a timeout or a replay, a bot may run again
 * for the same resource version. A bot makes its writes safe to repeat by deriving an
 * idempotency key from (bot, triggering resource version, effect name) and creating through a
 * conditional create (`If-None-Exist`) on that key, kept as a meta.tag on the created resource:
 *
 *   export async function handler(medplum: MedplumClient, event: BotEvent<Encounter>) {
 *     const encounter = event.input;
 *     await createOnce(medplum, {
 *       bot: 'triage',
 *       trigger: encounter,           // must carry meta.versionId (subscription input does)
 *       effect: 'esi-observation',    // one name per distinct effect of the same run
 *       resource: { resourceType: 'Observation', status: 'final', code: ..., subject: ... },
 *     });
 *   }
 *
 * The second run for the same version finds the tagged resource and returns it instead of
 * creating a duplicate; a new version of the trigger (a real change) gets a new key.
 * Concurrent runs for one version (a replay racing a retry) still create once: see createOnce.
 * For side effects outside FHIR (an SMS, a payment) pass
 * idempotencyKey(...) to the vendor's own idempotency header.
 */
import { getStatus, type MedplumClient, OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

export const IDEMPOTENCY_TAG_SYSTEM = 'https://emergisphere.org/fhir/CodeSystem/idempotency-key';

export interface IdempotentCreate<T extends Resource> {
  /** The bot's stable name (or id). */
  bot: string;
  /** The resource that triggered the run, as delivered (with id and meta.versionId). */
  trigger: Resource;
  /** Names this effect when one run has several (default "default"). */
  effect?: string;
  resource: T;
}

/** The key of one effect of one bot for one version of the triggering resource. */
export function idempotencyKey(bot: string, trigger: Resource, effect = 'default'): string {
  if (!trigger.id || !trigger.meta?.versionId) {
    throw new Error('idempotencyKey: the triggering resource needs an id and meta.versionId');
  }
  return `${bot}:${effect}:${trigger.resourceType}/${trigger.id}/_history/${trigger.meta.versionId}`;
}

/** `resource` with the idempotency tag of this effect added. */
export function withIdempotencyTag<T extends Resource>(resource: T, key: string): T {
  const tags = (resource.meta?.tag ?? []).filter((t) => t.system !== IDEMPOTENCY_TAG_SYSTEM);
  return { ...resource, meta: { ...resource.meta, tag: [...tags, { system: IDEMPOTENCY_TAG_SYSTEM, code: key }] } } as T;
}

const CONFLICT_RETRIES = 5;

/**
 * Creates the resource once per (bot, trigger version, effect); later calls return the first one.
 * Race-free: of two concurrent runs (a replay racing a retry, two instances) one creates and the
 * other finds its resource. This server holds a lock on the criteria while it searches and
 * creates (server/fhir/criteria-lock.ts); a Medplum server runs the two SERIALIZABLE, and should
 * the loser still conflict there after its own retries (409), we retry after a short random pause.
 */
export async function createOnce<T extends Resource>(medplum: MedplumClient, req: IdempotentCreate<T>): Promise<T> {
  const key = idempotencyKey(req.bot, req.trigger, req.effect);
  const query = new URLSearchParams({ _tag: `${IDEMPOTENCY_TAG_SYSTEM}|${key}` }).toString();
  for (let attempt = 1; ; attempt++) {
    try {
      return await medplum.createResourceIfNoneExist<T>(withIdempotencyTag(req.resource, key), query);
    } catch (err) {
      if (attempt >= CONFLICT_RETRIES || !(err instanceof OperationOutcomeError) || getStatus(err.outcome) !== 409) throw err;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * attempt));
    }
  }
}
