// Rest-hook Subscriptions on Observations of one code each, with an optional delivery priority:
// the shared set-up of the delivery-priority tests (server/subscriptions/*.int.test.ts).
import type { MedplumClient } from '@medplum/core';
import type { Observation, Subscription } from '@medplum/fhirtypes';
import { EXT } from '../server/subscriptions/subscription.ts';

/** A Subscription to `Observation?code=<code>` posting to `<hooksUrl>/<code>`. */
export function subscribeToCode(
  medplum: MedplumClient,
  hooksUrl: string,
  reason: string,
  code: string,
  priority?: string,
): Promise<Subscription> {
  return medplum.createResource<Subscription>({
    resourceType: 'Subscription',
    status: 'active',
    reason: `${reason}: ${code}`,
    criteria: `Observation?code=${code}`,
    channel: { type: 'rest-hook', endpoint: `${hooksUrl}/${code}` },
    ...(priority ? { extension: [{ url: EXT.priority, valueCode: priority }] } : {}),
  });
}

export const codedObservation = (code: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ code }] },
});
