import { type BotEvent, createReference, formatHumanName, type MedplumClient } from '@medplum/core';
import type { Communication, Patient } from '@medplum/fhirtypes';

/** Where the greeting's identifier comes from: one greeting per patient version, however often we run. */
const GREETING_SYSTEM = 'https://emergisphere.dev/fhir/hello-greeting';

/** Pure: the greeting for a name (or for anyone). */
export function greeting(name: string | undefined): string {
  return `Hello, ${name?.trim() || 'world'}!`;
}

/**
 * The example bot. Text in → a greeting back. A Patient in (e.g. from its Subscription) → the
 * greeting is also recorded as a Communication to that patient, once per patient version.
 */
export async function handler(medplum: MedplumClient, event: BotEvent<Patient | string>): Promise<string> {
  const input = event.input;
  if (typeof input === 'string' || !input) {
    return greeting(typeof input === 'string' ? input : undefined);
  }
  if (input.resourceType !== 'Patient' || !input.id) {
    throw new Error(`hello expects text or a stored Patient, got ${input.resourceType}`);
  }
  const name = input.name?.[0] ? formatHumanName(input.name[0]) : undefined;
  const text = greeting(name);
  const key = `${input.id}/${input.meta?.versionId ?? '1'}`;
  const communication = await medplum.createResourceIfNoneExist<Communication>(
    {
      resourceType: 'Communication',
      status: 'completed',
      identifier: [{ system: GREETING_SYSTEM, value: key }],
      subject: createReference(input),
      payload: [{ contentString: text }],
    },
    `identifier=${GREETING_SYSTEM}|${key}`,
  );
  console.log(`Greeted ${name ?? 'a patient'} (Communication/${communication.id})`);
  return text;
}
