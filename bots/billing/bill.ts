/**
 * The billing agent's two moments:
 * - `estimate` (the workflow's billing step, before discharge): charges so far and a draft
 *   Invoice; once the medical screening is done, with the insurance split, sent to the patient;
 * - `final` (the Encounter becomes `finished`): the charges, the issued Invoice, the Claim for the
 *   payer, and — only after the medical screening, and only for a patient share above zero —
 *   the payment request: a Stripe Checkout link when Stripe is configured, else the invoice is
 *   recorded as unpaid.
 * Before the screening (EMTALA) nothing reads or asks about insurance and nothing asks for money.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { CommunicationRequest, Encounter, Resource } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import { COMMUNICATION_CATEGORY_SYSTEM } from '../lib/workflow.ts';
import { chargeLines } from './charges.ts';
import { benefitsFrom, splitCharges } from './coverage.ts';
import { format } from './money.ts';
import { checkoutLink, type Secrets, stripeConfigured } from './payments.ts';
import { claimFor, type PaymentStatus, writeChargeItems, writeClaim, writeInvoice } from './records.ts';
import { screeningStatus } from './screening.ts';
import { loadCatalog, loadCoverage, loadFacts, triageCompleted } from './visit.ts';

export interface BillOutcome {
  outputs: { type: string; reference?: string; text?: string }[];
  rationale: string;
}

function paymentRequest(encounter: WithId<Encounter>, patient: string, text: string, invoice: string): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'payment' }] }],
    priority: 'routine',
    subject: { reference: patient } as CommunicationRequest['subject'],
    encounter: { reference: `Encounter/${encounter.id}` },
    recipient: [{ reference: patient } as NonNullable<CommunicationRequest['recipient']>[0]],
    about: [{ reference: invoice }],
    authoredOn: new Date().toISOString(),
    payload: [{ contentString: text }],
  };
}

export async function bill(
  medplum: MedplumClient,
  encounter: WithId<Encounter>,
  kind: 'estimate' | 'final',
  secrets: Secrets,
  trigger: Resource,
): Promise<BillOutcome> {
  const patient = encounter.subject?.reference;
  if (!patient?.startsWith('Patient/')) {
    return { outputs: [], rationale: `Encounter/${encounter.id} has no patient: nothing to bill` };
  }
  const screening = screeningStatus(encounter, await triageCompleted(medplum, encounter.id));
  const [catalog, facts] = await Promise.all([loadCatalog(medplum), loadFacts(medplum, encounter)]);
  const { lines, unmatched } = chargeLines(facts, catalog);
  const reasons = [screening.reason, ...lines.map((l) => l.reason)];
  if (unmatched.length) reasons.push(`not in the catalog (not charged): ${unmatched.join(', ')}`);
  const chargeItems = await writeChargeItems(medplum, encounter, patient, lines);
  const insurance = screening.done ? await loadCoverage(medplum, patient) : {};
  const split = splitCharges(lines, screening.done ? benefitsFrom(insurance.coverage, insurance.eligibility, facts.emergency) : undefined);
  const outputs: BillOutcome['outputs'] = [...chargeItems.values()].map((reference) => ({ type: 'charge', reference }));
  const notes: string[] = [];
  if (!screening.done) notes.push('Insurance not applied yet: the medical screening is not complete (EMTALA).');
  let paymentStatus: PaymentStatus = 'not-requested';
  if (kind === 'final' && screening.done && split.patient > 0) {
    paymentStatus = 'unpaid';
    if (!stripeConfigured(secrets)) notes.push('No payment processor is configured: the bill is recorded as unpaid.');
  }
  let invoice = await writeInvoice(medplum, {
    encounter,
    patient,
    kind,
    lines,
    split,
    chargeItems,
    coverage: insurance.coverage,
    paymentStatus,
    notes,
  });
  outputs.push({ type: kind === 'estimate' ? 'estimate' : 'invoice', reference: `Invoice/${invoice.id}` });
  reasons.push(`total ${format(split.total)}; insurance ${format(split.insurance)}; patient ${format(split.patient)}`);
  if (!screening.done) {
    return { outputs, rationale: reasons.join('; ') };
  }
  if (kind === 'final' && insurance.coverage) {
    const claim = await writeClaim(
      medplum,
      claimFor(encounter, { id: patient.split('/')[1] }, insurance.coverage, lines, encounter.serviceProvider?.reference),
      secrets.PAYER_CLAIM_URL?.valueString || undefined,
    );
    outputs.push({ type: 'claim', reference: claim.claim });
    if (claim.task) outputs.push({ type: 'claim submission', reference: claim.task });
    reasons.push(`claim: ${claim.submission}`);
  }
  let text: string;
  if (kind === 'estimate') {
    text = `Estimate for your visit: total ${format(split.total)}, insurance ${format(split.insurance)}, your share about ${format(split.patient)}. Nothing is due now.`;
  } else if (split.patient <= 0) {
    text = `Your visit is fully covered (${format(split.total)}). Nothing is due.`;
  } else if (stripeConfigured(secrets)) {
    const link = await checkoutLink(medplum, secrets, invoice, split.patient, `Emergency visit ${encounter.id}`);
    invoice = link.invoice;
    text = `Your bill: ${format(split.patient)} after insurance. Pay securely here: ${link.url}`;
    reasons.push('payment link created (Stripe Checkout)');
  } else {
    text = `Your bill: ${format(split.patient)} after insurance. Please contact the billing office to pay.`;
    reasons.push('no payment processor: invoice recorded as unpaid');
  }
  const request = await createOnce(medplum, {
    bot: 'billing',
    trigger,
    effect: `${kind}-message`,
    resource: paymentRequest(encounter, patient, text, `Invoice/${invoice.id}`),
  });
  outputs.push({ type: 'patient message', reference: `CommunicationRequest/${request.id}` });
  return { outputs, rationale: reasons.join('; ') };
}
