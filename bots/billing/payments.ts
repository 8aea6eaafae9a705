/**
 * Payment through Stripe's official SDK, only when the project has `STRIPE_SECRET_KEY`:
 * - a Checkout Session for the patient's share of a final bill (idempotency key per invoice
 *   version), whose link the communication agent sends (a CommunicationRequest, category payment);
 * - the webhook (`POST /webhook/stripe` on the server hands the raw body and its `Stripe-Signature`
 *   here): verified with `STRIPE_WEBHOOK_SECRET` by the SDK, then `checkout.session.completed` →
 *   a PaymentReconciliation and the invoice marked paid; `charge.refunded` → a refund
 *   PaymentReconciliation; each event recorded once (identifier = the event id);
 * - refunds (`Invoice/$refund`).
 * `STRIPE_API_BASE_URL` (tests) points the SDK at another host.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Invoice, PaymentReconciliation, ProjectSetting } from '@medplum/fhirtypes';
import Stripe from 'stripe';
import { type Cents, format, money, toCents } from './money.ts';
import {
  PAYMENT_LINK_EXTENSION,
  PAYMENT_STATUS_EXTENSION,
  type PaymentStatus,
  STRIPE_CHECKOUT_SESSION,
  STRIPE_PAYMENT_INTENT,
  withExtension,
} from './records.ts';

export type Secrets = Record<string, ProjectSetting | undefined>;
export const STRIPE_EVENT_SYSTEM = 'https://stripe.com/event';
export const STRIPE_REFUND_SYSTEM = 'https://stripe.com/refund';

export class PaymentError extends Error {}

function secret(secrets: Secrets, name: string): string | undefined {
  return secrets[name]?.valueString || undefined;
}

export function stripeConfigured(secrets: Secrets): boolean {
  return !!secret(secrets, 'STRIPE_SECRET_KEY');
}

export function stripeClient(secrets: Secrets): Stripe {
  const key = secret(secrets, 'STRIPE_SECRET_KEY');
  if (!key) throw new PaymentError('Stripe is not configured (no STRIPE_SECRET_KEY secret)');
  const base = secret(secrets, 'STRIPE_API_BASE_URL');
  const url = base ? new URL(base) : undefined;
  return new Stripe(key, {
    maxNetworkRetries: 1,
    timeout: 8000,
    ...(url
      ? { host: url.hostname, port: Number(url.port) || undefined, protocol: url.protocol.replace(':', '') as 'http' | 'https' }
      : {}),
  });
}

function withPayment(invoice: Invoice, status: PaymentStatus): Invoice {
  return withExtension(invoice, PAYMENT_STATUS_EXTENSION, { valueCode: status });
}

/** A Checkout link for the invoice's patient share; stored on the invoice (reused when already there). */
export async function checkoutLink(
  medplum: MedplumClient,
  secrets: Secrets,
  invoice: WithId<Invoice>,
  amount: Cents,
  description: string,
): Promise<{ invoice: WithId<Invoice>; url: string }> {
  const existing = invoice.extension?.find((e) => e.url === PAYMENT_LINK_EXTENSION)?.valueUrl;
  if (existing) return { invoice, url: existing };
  const stripe = stripeClient(secrets);
  const returnUrl = secret(secrets, 'PAYMENT_RETURN_URL') ?? `${medplum.getBaseUrl()}payment-complete`;
  const session = await stripe.checkout.sessions.create(
    {
      mode: 'payment',
      client_reference_id: invoice.id,
      line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: amount, product_data: { name: description } } }],
      metadata: { invoice: `Invoice/${invoice.id}` },
      payment_intent_data: { metadata: { invoice: `Invoice/${invoice.id}` } },
      success_url: `${returnUrl}?invoice=${invoice.id}`,
      cancel_url: `${returnUrl}?invoice=${invoice.id}&cancelled=1`,
    },
    { idempotencyKey: `invoice-${invoice.id}-${invoice.meta?.versionId}-${amount}` },
  );
  if (!session.url) throw new PaymentError(`Stripe returned no Checkout URL for session ${session.id}`);
  let updated = withExtension(withPayment(invoice, 'unpaid'), PAYMENT_LINK_EXTENSION, { valueUrl: session.url });
  updated = {
    ...updated,
    identifier: [...(updated.identifier ?? []), { system: STRIPE_CHECKOUT_SESSION, value: session.id }],
  };
  return { invoice: await medplum.updateResource(updated), url: session.url };
}

function reconciliation(
  invoice: WithId<Invoice>,
  eventId: string,
  amount: Cents,
  paymentRef: string,
  kind: 'payment' | 'refund',
): PaymentReconciliation {
  const now = new Date().toISOString();
  return {
    resourceType: 'PaymentReconciliation',
    identifier: [
      { system: STRIPE_EVENT_SYSTEM, value: eventId },
      { system: kind === 'refund' ? STRIPE_REFUND_SYSTEM : STRIPE_PAYMENT_INTENT, value: paymentRef },
    ],
    status: 'active',
    created: now,
    paymentDate: now.slice(0, 10),
    paymentAmount: money(kind === 'refund' ? -amount : amount),
    paymentIdentifier: { system: STRIPE_PAYMENT_INTENT, value: paymentRef },
    outcome: 'complete',
    disposition: `${kind === 'refund' ? 'Refund' : 'Payment'} of ${format(amount)} through Stripe for Invoice/${invoice.id}`,
    detail: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/payment-type', code: kind === 'refund' ? 'adjustment' : 'payment' }],
        },
        request: { reference: `Invoice/${invoice.id}` },
        date: now.slice(0, 10),
        amount: money(kind === 'refund' ? -amount : amount),
      },
    ],
  };
}

async function invoiceByRef(medplum: MedplumClient, ref: string | undefined): Promise<WithId<Invoice>> {
  if (!ref?.startsWith('Invoice/')) throw new PaymentError(`the Stripe object names no invoice (metadata.invoice = ${ref})`);
  return medplum.readResource('Invoice', ref.split('/')[1], { cache: 'no-cache' });
}

async function invoiceByPaymentIntent(medplum: MedplumClient, pi: string): Promise<WithId<Invoice>> {
  const found = await medplum.searchOne('Invoice', { identifier: `${STRIPE_PAYMENT_INTENT}|${pi}` }, { cache: 'no-cache' });
  if (!found) throw new PaymentError(`no invoice is paid by ${pi}`);
  return found;
}

export interface WebhookResult {
  event: string;
  type: string;
  recorded?: string;
  ignored?: string;
}

/** Verifies and records one webhook delivery. A bad signature throws (the route answers 400). */
export async function handleWebhook(medplum: MedplumClient, secrets: Secrets, payload: string, signature: string): Promise<WebhookResult> {
  const webhookSecret = secret(secrets, 'STRIPE_WEBHOOK_SECRET');
  if (!webhookSecret) throw new PaymentError('STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified');
  let event: Stripe.Event;
  try {
    event = stripeClient(secrets).webhooks.constructEvent(payload, signature, webhookSecret);
  } catch (err) {
    throw new PaymentError(`Stripe signature check failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const query = `identifier=${encodeURIComponent(`${STRIPE_EVENT_SYSTEM}|${event.id}`)}`;
  if (event.type === 'checkout.session.completed') {
    const session = event.data.object as Stripe.Checkout.Session;
    const invoice = await invoiceByRef(medplum, session.metadata?.invoice);
    const pi = typeof session.payment_intent === 'string' ? session.payment_intent : (session.payment_intent?.id ?? session.id);
    const rec = await medplum.createResourceIfNoneExist(reconciliation(invoice, event.id, session.amount_total ?? 0, pi, 'payment'), query);
    const identifiers = (invoice.identifier ?? []).filter((i) => i.system !== STRIPE_PAYMENT_INTENT);
    await medplum.updateResource({
      ...withPayment(invoice, 'paid'),
      status: 'balanced',
      identifier: [...identifiers, { system: STRIPE_PAYMENT_INTENT, value: pi }],
    });
    return { event: event.id, type: event.type, recorded: `PaymentReconciliation/${rec.id}` };
  }
  if (event.type === 'charge.refunded') {
    const charge = event.data.object as Stripe.Charge;
    const pi = typeof charge.payment_intent === 'string' ? charge.payment_intent : (charge.payment_intent?.id ?? '');
    const invoice = await invoiceByPaymentIntent(medplum, pi);
    const refundId = charge.refunds?.data?.[0]?.id ?? event.id;
    const already = await medplum.searchOne(
      'PaymentReconciliation',
      { identifier: `${STRIPE_REFUND_SYSTEM}|${refundId}` },
      { cache: 'no-cache' },
    );
    const rec =
      already ??
      (await medplum.createResourceIfNoneExist(reconciliation(invoice, event.id, charge.amount_refunded, refundId, 'refund'), query));
    const full = charge.amount_refunded >= charge.amount;
    await medplum.updateResource(withPayment(invoice, full ? 'refunded' : 'partially-refunded'));
    return { event: event.id, type: event.type, recorded: `PaymentReconciliation/${rec.id}` };
  }
  return { event: event.id, type: event.type, ignored: 'not a payment event billing records' };
}

/** Refunds (part of) a paid invoice through Stripe and records it at once. */
export async function refund(
  medplum: MedplumClient,
  secrets: Secrets,
  invoiceId: string,
  amount: Cents | undefined,
  reason: string | undefined,
): Promise<{ refund: string; reconciliation: string; amount: Cents }> {
  const invoice = await medplum.readResource('Invoice', invoiceId, { cache: 'no-cache' });
  const pi = invoice.identifier?.find((i) => i.system === STRIPE_PAYMENT_INTENT)?.value;
  if (!pi) throw new PaymentError(`Invoice/${invoiceId} has no Stripe payment to refund`);
  const stripe = stripeClient(secrets);
  let created: Stripe.Refund;
  try {
    created = await stripe.refunds.create(
      { payment_intent: pi, ...(amount ? { amount } : {}), metadata: { invoice: `Invoice/${invoiceId}`, ...(reason ? { reason } : {}) } },
      { idempotencyKey: `refund-${invoiceId}-${amount ?? 'full'}` },
    );
  } catch (err) {
    // Nothing was refunded, so nothing is recorded: the caller gets Stripe's reason.
    if (err instanceof Stripe.errors.StripeError) {
      throw new PaymentError(`Stripe did not refund Invoice/${invoiceId}: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    }
    throw err;
  }
  const rec = await medplum.createResourceIfNoneExist(
    reconciliation(invoice, `refund:${created.id}`, created.amount, created.id, 'refund'),
    `identifier=${encodeURIComponent(`${STRIPE_REFUND_SYSTEM}|${created.id}`)}`,
  );
  const paid = invoice.totalNet?.value !== undefined ? toCents(invoice.totalNet.value) : created.amount;
  await medplum.updateResource(withPayment(invoice, created.amount >= paid ? 'refunded' : 'partially-refunded'));
  return { refund: created.id, reconciliation: `PaymentReconciliation/${rec.id}`, amount: created.amount };
}
