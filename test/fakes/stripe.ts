import { randomBytes } from 'node:crypto';
import { type FakeReply, type FakeServer, type RecordedRequest, startFakeServer } from './fake-server.ts';

export interface FakeStripe extends FakeServer {
  secretKey: string;
  /** Checkout Sessions created, by id. */
  sessions: Map<string, Record<string, unknown>>;
  refunds: Record<string, unknown>[];
}

function stripeError(status: number, type: string, message: string, code?: string): FakeReply {
  return { status, body: { error: { type, message, ...(code ? { code } : {}) } } };
}

/** Stripe's form encoding (`a[b][0][c]=1`) into nested objects and arrays. */
export function parseStripeForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> = root;
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = value;
      else {
        if (node[part] === undefined) node[part] = /^\d+$/.test(path[i + 1]) ? [] : {};
        node = node[part] as Record<string, unknown>;
      }
    });
  }
  return root;
}

/**
 * A local stand-in for Stripe's API (what the official SDK calls): `POST /v1/checkout/sessions`
 * and `POST /v1/refunds`, form-encoded, `Authorization: Bearer <secret key>`, answering Stripe's
 * object JSON or its error JSON (`{ error: { type, message } }`).
 */
export async function startFakeStripe(): Promise<FakeStripe> {
  const secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const sessions = new Map<string, Record<string, unknown>>();
  const refunds: Record<string, unknown>[] = [];
  const route = (req: RecordedRequest): FakeReply => {
    if (req.headers.authorization !== `Bearer ${secretKey}`) return stripeError(401, 'invalid_request_error', 'Invalid API Key provided');
    const form = parseStripeForm(req.body);
    if (req.method === 'POST' && req.url === '/v1/checkout/sessions') {
      const items = (form.line_items ?? []) as { quantity: string; price_data: { unit_amount: string } }[];
      const amount = items.reduce((a, i) => a + Number(i.price_data.unit_amount) * Number(i.quantity), 0);
      const id = `cs_test_${randomBytes(8).toString('hex')}`;
      const session = {
        id,
        object: 'checkout.session',
        mode: form.mode,
        amount_total: amount,
        currency: 'usd',
        client_reference_id: form.client_reference_id,
        metadata: form.metadata ?? {},
        payment_intent: `pi_test_${randomBytes(8).toString('hex')}`,
        payment_status: 'unpaid',
        status: 'open',
        url: `https://checkout.stripe.test/c/pay/${id}`,
      };
      sessions.set(id, session);
      return { status: 200, body: session };
    }
    if (req.method === 'POST' && req.url === '/v1/refunds') {
      const refund = {
        id: `re_test_${randomBytes(8).toString('hex')}`,
        object: 'refund',
        amount: Number(form.amount ?? 0) || 0,
        payment_intent: form.payment_intent,
        status: 'succeeded',
        metadata: form.metadata ?? {},
      };
      const session = [...sessions.values()].find((s) => s.payment_intent === form.payment_intent);
      if (!session)
        return stripeError(404, 'invalid_request_error', `No such payment_intent: '${form.payment_intent}'`, 'resource_missing');
      // As Stripe: never more than what is left of the charge.
      const refunded = refunds.filter((r) => r.payment_intent === form.payment_intent).reduce((a, r) => a + Number(r.amount), 0);
      const left = Number(session.amount_total ?? 0) - refunded;
      if (!refund.amount) refund.amount = left;
      if (refund.amount > left || left <= 0) {
        const usd = (c: number) => `$${(c / 100).toFixed(2)}`;
        return stripeError(
          400,
          'invalid_request_error',
          `Refund amount (${usd(refund.amount)}) is greater than unrefunded amount on charge (${usd(left)})`,
          'amount_too_large',
        );
      }
      refunds.push(refund);
      return { status: 200, body: refund };
    }
    return stripeError(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${req.url})`);
  };
  const fake = await startFakeServer(route, {
    unauthorized: stripeError(401, 'invalid_request_error', 'Invalid API Key provided'),
    'server-error': stripeError(500, 'api_error', 'Something went wrong on our end'),
  });
  return Object.assign(fake, { secretKey, sessions, refunds });
}
