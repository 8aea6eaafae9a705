/**
 * The communication agent (docs/workflows.md, "Notifications"). Input:
 * - a CommunicationRequest (its Subscription, on create) → one Communication per recipient, in-app
 *   at once, then SMS (Twilio) and email (SendGrid) when configured, outcome written back;
 * - a Communication `inResponseTo` a page (its Subscription) → the page's request is completed,
 *   which stops escalation;
 * - a workflow Task for the `communication` step → the notifications the visit calls for (step.ts);
 * - a cron run (the Bot, a Parameters, `{}`) or `$execute` with `{ "action": "escalate" }` →
 *   unacknowledged stat pages escalate; `{ "action": "check-channels" }` → which channels work.
 * Secrets: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM, SENDGRID_API_KEY, SENDGRID_FROM
 * (+ TWILIO_API_BASE_URL, SENDGRID_API_BASE_URL to point the SDKs elsewhere, e.g. at test fakes).
 */
import { type BotEvent, generateId, type MedplumClient } from '@medplum/core';
import type { Communication, CommunicationRequest, Parameters, Resource, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { acknowledge } from './acknowledge.ts';
import type { ChannelSetup, Secrets } from './channels/channel.ts';
import { checkEmailSdk, emailSetup } from './channels/email.ts';
import { checkSmsSdk, smsSetup } from './channels/sms.ts';
import { deliverRequest } from './deliver.ts';
import type { Run } from './send.ts';
import { communicationStep } from './step.ts';
import { escalateStatPages } from './sweep.ts';

export type Action = 'escalate' | 'check-channels';
const ACTIONS: Action[] = ['escalate', 'check-channels'];

function isResource<T extends Resource['resourceType']>(input: unknown, type: T): input is Extract<Resource, { resourceType: T }> {
  return typeof input === 'object' && input !== null && (input as Resource).resourceType === type;
}

/** The action a non-resource input asks for; a cron run (no input, `{}`, the Bot itself) escalates. */
export function actionOf(input: unknown): string {
  if (input === undefined || input === null || input === '') return 'escalate';
  if (typeof input === 'string') return input.trim();
  if (isResource(input, 'Parameters')) {
    const p = (input as Parameters).parameter?.find((x) => x.name === 'action');
    return p?.valueCode ?? p?.valueString ?? 'escalate';
  }
  if (isResource(input, 'Bot')) return 'escalate';
  if (typeof input === 'object' && !('resourceType' in input)) {
    const action = (input as { action?: unknown }).action;
    return typeof action === 'string' ? action : 'escalate';
  }
  return `a ${(input as Resource).resourceType ?? typeof input}`;
}

function configOf<T>(setup: ChannelSetup<T>): T | undefined {
  return 'config' in setup ? setup.config : undefined;
}

type ChannelCheck = { status: 'ready' } | { status: 'not-configured'; missing: string[] } | { status: 'unavailable'; error: string };

async function checkChannel<T>(setup: ChannelSetup<T>, load: () => Promise<string | undefined>): Promise<ChannelCheck> {
  if ('missing' in setup) return { status: 'not-configured', missing: setup.missing };
  const error = await load();
  return error ? { status: 'unavailable', error } : { status: 'ready' };
}

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const secrets = event.secrets as Secrets;
  const sms = smsSetup(secrets);
  const email = emailSetup(secrets);
  const run: Run = { medplum, now: new Date(), attempt: generateId(), channels: { sms: configOf(sms), email: configOf(email) } };
  const input = event.input;
  if (isResource(input, 'CommunicationRequest')) {
    return deliverRequest(run, input as CommunicationRequest);
  }
  if (isResource(input, 'Communication')) {
    return acknowledge(run, input as Communication);
  }
  if (isResource(input, 'Task')) {
    return runStep(medplum, event as BotEvent<Task>, communicationStep);
  }
  const action = actionOf(input);
  switch (action) {
    case 'escalate':
      return escalateStatPages(run);
    case 'check-channels':
      return { sms: await checkChannel(sms, checkSmsSdk), email: await checkChannel(email, checkEmailSdk) };
    default:
      throw new Error(
        `communication: expects a CommunicationRequest, an acknowledging Communication, or an action (${ACTIONS.join(', ')}); got ${action}`,
      );
  }
}
