/**
 * The billing agent through the real server, in the emergency workflow: before the medical
 * screening the billing step writes charges only — no insurance, no payment request, nothing
 * sent to Stripe (EMTALA); once a provider has seen the patient and the visit ends, the final
 * bill applies the insurance line by line, the claim goes to the payer, a Stripe Checkout link
 * goes to the patient through the communication agent, the signed webhook is recorded as a
 * PaymentReconciliation (once), and a refund is recorded.
 */
import { resolve } from 'node:path';
import { getStatus, OperationOutcomeError, type WithId } from '@medplum/core';
import type {
  Bot,
  Claim,
  CommunicationRequest,
  Coverage,
  Encounter,
  Invoice,
  Patient,
  PaymentReconciliation,
  Practitioner,
  Project,
  Task,
} from '@medplum/fhirtypes';
import Stripe from 'stripe';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deployBots } from '../../scripts/deploy-bots.ts';
import { seed } from '../../scripts/seed.ts';
import { type FakeServer, startFakeServer } from '../../test/fakes/fake-server.ts';
import { type FakeStripe, startFakeStripe } from '../../test/fakes/stripe.ts';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { deployFixtureAgents, waitFor, waitForStep } from '../../test/workflow-agents.ts';
import { STEP_CODES, stepOf } from '../lib/workflow.ts';
import { NETWORK_STATUS_EXTENSION } from './coverage.ts';
import { CLAIM_SUBMISSION_EXTENSION, PAYMENT_LINK_EXTENSION, paymentStatusOf } from './records.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const WEBHOOK_SECRET = 'whsec_test_billing';
let t: TestServer;
let stripe: FakeStripe;
let payer: FakeServer;
let patient: WithId<Patient>;
let doctor: WithId<Practitioner>;

const benefit = (code: string, value: Record<string, unknown>) => ({
  type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/benefit-type', code }] },
  ...value,
});

beforeAll(async () => {
  t = await startTestServer({ subscriptions: { backoffBaseMs: 50, backoffMaxMs: 200 } });
  stripe = await startFakeStripe();
  payer = await startFakeServer(
    () => ({
      status: 200,
      body: {
        resourceType: 'ClaimResponse',
        status: 'active',
        type: { text: 'institutional' },
        use: 'claim',
        patient: { display: 'x' },
        created: '2025-03-03',
        insurer: { display: 'Acme Health' },
        outcome: 'queued',
      },
    }),
    { unauthorized: { status: 401 }, 'server-error': { status: 500 } },
  );
  const project = (await t.medplum.readResource('Project', t.server.bootstrap.project.id as string)) as WithId<Project>;
  await t.medplum.updateResource<Project>({
    ...project,
    secret: [
      { name: 'STRIPE_SECRET_KEY', valueString: stripe.secretKey },
      { name: 'STRIPE_API_BASE_URL', valueString: stripe.url },
      { name: 'STRIPE_WEBHOOK_SECRET', valueString: WEBHOOK_SECRET },
      { name: 'PAYER_CLAIM_URL', valueString: `${payer.url}/claims` },
    ],
  });
  await seed(t.medplum, { dir: resolve(ROOT, 'seed'), days: 0, patients: 0 });
  await deployBots(t.medplum, { rootDir: ROOT, only: ['workflow', 'billing'] });
  await deployFixtureAgents(
    t.medplum,
    STEP_CODES.filter((s) => s !== 'billing'),
  );
  patient = await t.medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'Rivera', given: ['Ana'] }],
    birthDate: '1984-02-03',
  });
  doctor = await t.medplum.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'House', prefix: ['Dr.'] }] });
  const coverage = await t.medplum.createResource<Coverage>({
    resourceType: 'Coverage',
    status: 'active',
    beneficiary: { reference: `Patient/${patient.id}` },
    payor: [{ display: 'Acme Health' }],
  });
  await t.medplum.createResource({
    resourceType: 'CoverageEligibilityResponse',
    status: 'active',
    purpose: ['benefits'],
    patient: { reference: `Patient/${patient.id}` },
    created: new Date().toISOString(),
    request: { display: 'eligibility check by the admission agent' },
    outcome: 'complete',
    insurer: { display: 'Acme Health' },
    insurance: [
      {
        coverage: { reference: `Coverage/${coverage.id}` },
        inforce: true,
        extension: [{ url: NETWORK_STATUS_EXTENSION, valueCode: 'in' }],
        item: [
          {
            category: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ex-benefitcategory', code: '30' }] },
            network: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/benefit-network', code: 'in' }] },
            benefit: [
              benefit('copay', { allowedMoney: { value: 150, currency: 'USD' } }),
              benefit('deductible', { allowedMoney: { value: 1000, currency: 'USD' }, usedMoney: { value: 700, currency: 'USD' } }),
              benefit('copay-percent', { allowedUnsignedInt: 20 }),
            ],
          },
        ],
      },
    ],
  });
}, 240_000);

afterAll(async () => {
  await t?.close();
  await stripe?.close();
  await payer?.close();
});

async function webhook(payload: string, signature: string): Promise<Response> {
  return fetch(`${t.baseUrl}webhook/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
}

/** A provider (ATND) has seen the patient and the visit ends: what lets the final bill go out. */
async function seenAndFinished(encounter: WithId<Encounter>): Promise<void> {
  await t.medplum.updateResource<Encounter>({
    ...(await t.medplum.readResource('Encounter', encounter.id, { cache: 'no-cache' })),
    status: 'finished',
    participant: [
      {
        type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'ATND' }] }],
        individual: { reference: `Practitioner/${doctor.id}` },
      },
    ],
  });
}

/** The visit's final Invoice, once its payment link is on it. */
function finalBill(encounter: WithId<Encounter>): Promise<WithId<Invoice>> {
  return waitFor(
    async () => {
      const found = await t.medplum.searchOne(
        'Invoice',
        { identifier: `https://emergisphere.dev/fhir/invoice|${encounter.id}/final` },
        { cache: 'no-cache' },
      );
      return found?.extension?.some((e) => e.url === PAYMENT_LINK_EXTENSION) ? found : undefined;
    },
    30_000,
    'the final bill with its payment link',
  );
}

test('EMTALA: nothing about insurance or money before the screening; then the bill, the claim, Stripe payment and refund', async () => {
  const m = t.medplum;
  const encounter = await m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    reasonCode: [{ text: 'chest pain' }],
  });
  const enc = `Encounter/${encounter.id}`;
  const task = await waitForStep(m, enc, 'billing');
  expect(task.status).toBe('completed');
  const rationale = task.output?.find((o) => o.type?.text === 'rationale')?.valueString ?? '';
  expect(rationale).toContain('medical screening not done');
  expect(rationale).toContain('no provider (ATND/PPRF) has seen the patient');
  expect(await m.searchResources('CommunicationRequest', { encounter: enc }, { cache: 'no-cache' })).toHaveLength(0);
  expect(stripe.requests).toHaveLength(0);
  expect(payer.requests).toHaveLength(0);
  const estimate = (await m.searchOne(
    'Invoice',
    { identifier: `https://emergisphere.dev/fhir/invoice|${encounter.id}/estimate` },
    { cache: 'no-cache' },
  )) as Invoice;
  expect(estimate.status).toBe('draft');
  expect(estimate.totalNet?.value).toBe(estimate.totalGross?.value); // no insurance applied yet
  expect(estimate.note?.map((n) => n.text).join(' ')).toContain('EMTALA');

  // Work-up, then the provider sees the patient and the visit ends.
  await m.createResource({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '89579-7' }] },
    subject: { reference: `Patient/${patient.id}` },
    encounter: { reference: enc },
    valueQuantity: { value: 4, unit: 'ng/L' },
  });
  await m.createResource({
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '36643-5' }] },
    subject: { reference: `Patient/${patient.id}` },
    encounter: { reference: enc },
  });
  await seenAndFinished(encounter);
  const invoice = await finalBill(encounter);
  // 99284 $860 (2 resources: lab, chest X-ray) + troponin $78 + chest X-ray $240 = $1,178.
  // Patient: copay 150 + deductible 300 + 20% of 410 (82) + 20% of 78 (15.60) + 20% of 240 (48) = $595.60
  expect(invoice).toMatchObject({ status: 'issued', totalGross: { value: 1178 }, totalNet: { value: 595.6 } });
  expect(invoice.note?.[0].text).toContain('visit copay $150.00');
  expect(stripe.sessions.size).toBe(1);
  const session = [...stripe.sessions.values()][0];
  expect(session).toMatchObject({ amount_total: 59560, metadata: { invoice: `Invoice/${invoice.id}` } });
  // The link is put on the Invoice first, then sent: wait for the payment message itself.
  const message = await waitFor(
    async () =>
      (await m.searchOne(
        'CommunicationRequest',
        { encounter: enc, category: 'https://emergisphere.dev/fhir/CodeSystem/communication-category|payment' },
        { cache: 'no-cache' },
      )) as CommunicationRequest | undefined,
    30_000,
    'the payment message',
  );
  expect(message.payload?.[0].contentString).toContain(session.url as string);
  expect(message.category?.[0].coding?.[0].code).toBe('payment');
  await payer.waitFor((r) => r.length === 1);
  expect(JSON.parse(payer.requests[0].body)).toMatchObject({ resourceType: 'Claim', total: { value: 1178 } });

  // The webhook, signed as Stripe signs it.
  const event = JSON.stringify({ id: 'evt_test_1', object: 'event', type: 'checkout.session.completed', data: { object: session } });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload: event, secret: WEBHOOK_SECRET });
  expect((await webhook(event, 't=1,v1=forged')).status).toBe(400);
  expect((await webhook(event, signature)).status).toBe(200);
  expect((await webhook(event, signature)).status).toBe(200); // a redelivery records nothing new
  const payments: PaymentReconciliation[] = await m.searchResources(
    'PaymentReconciliation',
    { identifier: 'https://stripe.com/event|evt_test_1' },
    { cache: 'no-cache' },
  );
  expect(payments).toHaveLength(1);
  expect(payments[0].paymentAmount.value).toBe(595.6);
  const paid = await m.readResource('Invoice', invoice.id as string, { cache: 'no-cache' });
  expect(paid.status).toBe('balanced');
  expect(paymentStatusOf(paid)).toBe('paid');

  // A partial refund through Stripe.
  const refund = (await m.post(m.fhirUrl('Invoice', '$refund'), {
    resourceType: 'Parameters',
    parameter: [
      { name: 'invoice', valueReference: { reference: `Invoice/${invoice.id}` } },
      { name: 'amount', valueMoney: { value: 100, currency: 'USD' } },
      { name: 'reason', valueString: 'duplicate X-ray charge' },
    ],
  })) as { parameter?: { name: string; valueString?: string }[] };
  expect(stripe.refunds).toHaveLength(1);
  expect(stripe.refunds[0]).toMatchObject({ amount: 10000, payment_intent: session.payment_intent });
  const recId = refund.parameter?.find((p) => p.name === 'reconciliation')?.valueString as string;
  const rec = await m.readReference<PaymentReconciliation>({ reference: recId });
  expect(rec.paymentAmount.value).toBe(-100);
  expect(paymentStatusOf(await m.readResource('Invoice', invoice.id as string, { cache: 'no-cache' }))).toBe('partially-refunded');
}, 120_000);

/** An emergency visit through the billing step (triage ended), then seen by a provider and finished. */
async function finishedVisit(): Promise<{ encounter: WithId<Encounter>; invoice: WithId<Invoice> }> {
  const m = t.medplum;
  const encounter = await m.createResource<Encounter>({
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: `Patient/${patient.id}` },
    reasonCode: [{ text: 'ankle injury' }],
  });
  await waitFor(
    async () => {
      const tasks: Task[] = await m.searchResources('Task', { focus: `Encounter/${encounter.id}` }, { cache: 'no-cache' });
      return tasks.find((x) => stepOf(x) === 'billing' && x.status === 'completed');
    },
    60_000,
    'the billing step',
  );
  await seenAndFinished(encounter);
  const invoice = await finalBill(encounter);
  return { encounter, invoice };
}

test('the payer refuses the claim: the claim is kept with the reason, a Task shows it, a retry delivers it', async () => {
  const m = t.medplum;
  payer.failure = 'server-error';
  const before = payer.requests.length;
  const { encounter, invoice } = await finishedVisit();
  // Nothing else is held up: the bill and its payment link exist.
  expect(invoice.status).toBe('issued');
  const claim = await waitFor(async () => {
    const c = await m.searchOne('Claim', { identifier: `https://emergisphere.dev/fhir/claim|${encounter.id}` }, { cache: 'no-cache' });
    return c?.extension?.some((e) => e.url === CLAIM_SUBMISSION_EXTENSION) ? c : undefined;
  });
  expect(payer.requests.length).toBeGreaterThan(before);
  const submission = () => m.readResource('Claim', claim.id as string, { cache: 'no-cache' });
  const submissionText = (c: Claim) => c.extension?.find((e) => e.url === CLAIM_SUBMISSION_EXTENSION)?.valueString;
  expect(submissionText(claim)).toContain('refused by the payer (HTTP 500)');
  expect(claim.total?.value).toBeGreaterThan(0);
  const task = (await m.searchOne('Task', { focus: `Claim/${claim.id}` }, { cache: 'no-cache' })) as WithId<Task>;
  expect(task).toMatchObject({ status: 'requested', code: { coding: [{ code: 'claim-submission' }] } });
  expect(task.statusReason?.text).toContain('HTTP 500');
  expect(task.businessStatus?.text).toMatch(/^attempt 1: refused/);

  // A retry while the payer is still down: still open, attempt 2 recorded.
  const bot = (await m.searchOne('Bot', { identifier: 'https://emergisphere.dev/fhir/bot|billing' })) as WithId<Bot>;
  expect(bot.cronString).toBe('*/15 * * * *'); // the retry also runs on this schedule (medplum.config.json)
  const down = (await m.executeBot(bot.id, { action: 'resubmit-claims' }, 'application/json')) as { retried: { claim: string }[] };
  expect(down.retried.map((r) => r.claim)).toContain(`Claim/${claim.id}`);
  expect((await m.readResource('Task', task.id, { cache: 'no-cache' })).businessStatus?.text).toMatch(/^attempt 2: refused/);

  // The payer is back: the retry (what the cron run does) delivers it and closes the Task.
  payer.failure = 'none';
  const up = (await m.executeBot(bot.id, bot, 'application/fhir+json')) as { retried: { claim: string; submission: string }[] };
  expect(up.retried.find((r) => r.claim === `Claim/${claim.id}`)?.submission).toContain('accepted by the payer');
  expect(submissionText(await submission())).toMatch(/^accepted by the payer \(HTTP 200\) — ClaimResponse\//);
  const closed = await m.readResource('Task', task.id, { cache: 'no-cache' });
  expect(closed.status).toBe('completed');
  expect(closed.businessStatus?.text).toMatch(/^attempt 3: accepted/);
  expect(await m.searchResources('ClaimResponse', { request: `Claim/${claim.id}` }, { cache: 'no-cache' })).toHaveLength(1);
  // Nothing left to retry.
  const again = (await m.executeBot(bot.id, { action: 'resubmit-claims' }, 'application/json')) as { retried: { claim: string }[] };
  expect(again.retried.map((r) => r.claim)).not.toContain(`Claim/${claim.id}`);
}, 120_000);

test('a refund Stripe refuses is a 400 OperationOutcome and nothing is recorded as refunded', async () => {
  const m = t.medplum;
  payer.failure = 'none';
  const { invoice } = await finishedVisit();
  const session = [...stripe.sessions.values()].find((s) => (s.metadata as { invoice?: string }).invoice === `Invoice/${invoice.id}`);
  expect(session).toBeDefined();
  const event = JSON.stringify({ id: `evt_${invoice.id}`, object: 'event', type: 'checkout.session.completed', data: { object: session } });
  expect((await webhook(event, Stripe.webhooks.generateTestHeaderString({ payload: event, secret: WEBHOOK_SECRET }))).status).toBe(200);
  expect(paymentStatusOf(await m.readResource('Invoice', invoice.id, { cache: 'no-cache' }))).toBe('paid');
  const refundsBefore = stripe.refunds.length;
  const refundOf = (value: number) =>
    m.post(m.fhirUrl('Invoice', '$refund'), {
      resourceType: 'Parameters',
      parameter: [
        { name: 'invoice', valueReference: { reference: `Invoice/${invoice.id}` } },
        { name: 'amount', valueMoney: { value, currency: 'USD' } },
      ],
    });
  const noRefundRecorded = async () => {
    const all: PaymentReconciliation[] = await m.searchResources('PaymentReconciliation', { _count: '200' }, { cache: 'no-cache' });
    const forInvoice = all.filter((r) => r.detail?.some((d) => d.request?.reference === `Invoice/${invoice.id}`));
    expect(forInvoice).toHaveLength(1); // the payment only
    expect(forInvoice.every((r) => (r.paymentAmount.value ?? 0) > 0)).toBe(true);
    expect(paymentStatusOf(await m.readResource('Invoice', invoice.id, { cache: 'no-cache' }))).toBe('paid');
    expect(stripe.refunds.length).toBe(refundsBefore);
  };

  // More than was paid: Stripe answers 400 amount_too_large.
  const tooMuch = await refundOf(100_000).catch((err: OperationOutcomeError) => err);
  expect(tooMuch).toBeInstanceOf(OperationOutcomeError);
  expect(getStatus((tooMuch as OperationOutcomeError).outcome)).toBe(400);
  expect((tooMuch as OperationOutcomeError).outcome.issue?.[0].details?.text).toContain('is greater than unrefunded amount');
  expect((tooMuch as OperationOutcomeError).outcome.issue?.[0].details?.text).toContain('amount_too_large');
  await noRefundRecorded();

  // Stripe is down (500 after the SDK's retry): also a 400 with the reason, nothing recorded.
  stripe.failure = 'server-error';
  try {
    const down = await refundOf(10).catch((err: OperationOutcomeError) => err);
    expect(down).toBeInstanceOf(OperationOutcomeError);
    expect(getStatus((down as OperationOutcomeError).outcome)).toBe(400);
    expect((down as OperationOutcomeError).outcome.issue?.[0].details?.text).toContain('Something went wrong on our end');
  } finally {
    stripe.failure = 'none';
  }
  await noRefundRecorded();
}, 120_000);
