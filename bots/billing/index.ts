/**
 * The billing agent. Inputs:
 * - a workflow Task of the `billing` step → the estimate (bill.ts, `estimate`);
 * - an Encounter that became `finished` → the final bill, claim and payment request (bill.ts, `final`);
 * - `{ "type": "stripe-webhook", "payload", "signature" }` from the server's `POST /webhook/stripe`
 *   → verified and recorded (payments.ts);
 * - `Invoice/$refund` (Parameters `invoice`, optional `amount`, `reason`) → a Stripe refund;
 * - `{ "action": "resubmit-claims" }` (`$execute`) or a cron run (the Bot) → claims the payer has not
 *   accepted yet are sent again.
 */
import { type BotEvent, badRequest, type MedplumClient, type WithId } from '@medplum/core';
import type { Encounter, Parameters, Task } from '@medplum/fhirtypes';
import { runStep } from '../lib/workflow-step.ts';
import { bill } from './bill.ts';
import { toCents } from './money.ts';
import { handleWebhook, PaymentError, refund, type Secrets } from './payments.ts';
import { resubmitClaims } from './records.ts';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const input = event.input as
    | { resourceType?: string; type?: string; action?: string; payload?: unknown; signature?: unknown }
    | undefined;
  const secrets = event.secrets as Secrets;
  // A cron run gets the Bot itself as input: it retries the claims the payer has not accepted yet.
  if (input?.action === 'resubmit-claims' || input?.resourceType === 'Bot') {
    return resubmitClaims(medplum, secrets.PAYER_CLAIM_URL?.valueString || undefined);
  }
  if (input?.resourceType === 'Task') {
    return runStep(medplum, event as BotEvent<Task>, async (ctx) => {
      if (!ctx.encounter) return { rationale: 'no encounter to bill' };
      const out = await bill(medplum, ctx.encounter, 'estimate', secrets, ctx.trigger);
      return { outputs: out.outputs, rationale: out.rationale };
    });
  }
  if (input?.resourceType === 'Encounter') {
    return bill(medplum, input as WithId<Encounter>, 'final', secrets, input as WithId<Encounter>);
  }
  if (input?.type === 'stripe-webhook') {
    if (typeof input.payload !== 'string' || typeof input.signature !== 'string') {
      throw new PaymentError('a Stripe webhook needs the raw payload and its Stripe-Signature header');
    }
    return handleWebhook(medplum, secrets, input.payload, input.signature);
  }
  if (input?.resourceType === 'Parameters') {
    const params = (input as Parameters).parameter ?? [];
    const invoice = params.find((p) => p.name === 'invoice')?.valueReference?.reference;
    if (!invoice?.startsWith('Invoice/')) return badRequest('Parameter "invoice" (an Invoice reference) is required');
    const amount = params.find((p) => p.name === 'amount');
    const value = amount?.valueMoney?.value ?? amount?.valueDecimal;
    if (value !== undefined && !(value > 0)) return badRequest('Parameter "amount" must be positive');
    try {
      return await refund(
        medplum,
        secrets,
        invoice.split('/')[1],
        value === undefined ? undefined : toCents(value),
        params.find((p) => p.name === 'reason')?.valueString,
      );
    } catch (err) {
      if (err instanceof PaymentError) return badRequest(err.message);
      throw err;
    }
  }
  throw new Error(
    `The billing agent expects a workflow Task, an Encounter, a Stripe webhook or $refund Parameters; got ${input?.resourceType ?? typeof input}`,
  );
}
