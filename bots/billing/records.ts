/**
 * Writes the bill as FHIR: one ChargeItem per line (conditional update on a per-visit identifier,
 * so recomputing updates rather than duplicates), an Invoice (`draft` = the estimate before
 * discharge, `issued` = the bill at the end) whose line items carry the insurance and patient
 * shares and whose notes explain every line, and a Claim for the payer.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { ChargeItem, Claim, Coverage, Encounter, Invoice, Patient, Task } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';
import type { ChargeLine } from './charges.ts';
import type { Split } from './coverage.ts';
import { format, money } from './money.ts';

export const CHARGE_SYSTEM = `${ES}/charge-item`;
export const INVOICE_SYSTEM = `${ES}/invoice`;
export const CLAIM_SYSTEM = `${ES}/claim`;
export const PAYMENT_STATUS_EXTENSION = `${ES}/StructureDefinition/payment-status`;
export const PAYMENT_LINK_EXTENSION = `${ES}/StructureDefinition/payment-link`;
export const PATIENT_SHARE_EXTENSION = `${ES}/StructureDefinition/patient-responsibility`;
export const CLAIM_SUBMISSION_EXTENSION = `${ES}/StructureDefinition/claim-submission`;
export const STRIPE_PAYMENT_INTENT = 'https://stripe.com/payment_intent';
export const STRIPE_CHECKOUT_SESSION = 'https://stripe.com/checkout_session';

export type PaymentStatus = 'not-requested' | 'unpaid' | 'pending' | 'paid' | 'refunded' | 'partially-refunded';

const q = (system: string, value: string) => `identifier=${encodeURIComponent(`${system}|${value}`)}`;

export function paymentStatusOf(invoice: Invoice): PaymentStatus | undefined {
  return invoice.extension?.find((e) => e.url === PAYMENT_STATUS_EXTENSION)?.valueCode as PaymentStatus | undefined;
}

export function withExtension<T extends { extension?: Invoice['extension'] }>(r: T, url: string, value: Record<string, unknown>): T {
  return { ...r, extension: [...(r.extension ?? []).filter((e) => e.url !== url), { url, ...value }] };
}

export async function writeChargeItems(
  medplum: MedplumClient,
  encounter: WithId<Encounter>,
  patient: string,
  lines: ChargeLine[],
): Promise<Map<string, string>> {
  const refs = new Map<string, string>();
  for (const line of lines) {
    const value = `${encounter.id}/${line.key}`;
    const item: ChargeItem = {
      resourceType: 'ChargeItem',
      identifier: [{ system: CHARGE_SYSTEM, value }],
      status: 'billable',
      definitionCanonical: [line.entry.url],
      code: { coding: [{ system: line.entry.codeSystem, code: line.entry.code, display: line.entry.display }], text: line.entry.display },
      subject: { reference: patient } as ChargeItem['subject'],
      context: { reference: `Encounter/${encounter.id}` },
      quantity: { value: line.quantity },
      priceOverride: money(line.unitPrice),
      enteredDate: new Date().toISOString(),
      ...(line.source ? { service: [{ reference: line.source.split('#')[0] }] } : {}),
      note: [{ text: line.reason }],
    };
    const written = await medplum.upsertResource(item, q(CHARGE_SYSTEM, value));
    refs.set(line.key, `ChargeItem/${written.id}`);
  }
  return refs;
}

export interface InvoiceInput {
  encounter: WithId<Encounter>;
  patient: string;
  kind: 'estimate' | 'final';
  lines: ChargeLine[];
  split: Split;
  chargeItems: Map<string, string>;
  coverage?: WithId<Coverage>;
  paymentStatus: PaymentStatus;
  notes: string[];
}

export function invoiceFor(input: InvoiceInput): Invoice {
  const { split } = input;
  return {
    resourceType: 'Invoice',
    identifier: [{ system: INVOICE_SYSTEM, value: `${input.encounter.id}/${input.kind}` }],
    status: input.kind === 'estimate' ? 'draft' : 'issued',
    type: { text: input.kind === 'estimate' ? 'estimate before discharge' : 'final bill' },
    subject: { reference: input.patient } as Invoice['subject'],
    date: new Date().toISOString(),
    lineItem: input.lines.map((line, i) => {
      const share = split.lines[i];
      return {
        sequence: i + 1,
        chargeItemReference: { reference: input.chargeItems.get(line.key) as string },
        priceComponent: [
          { type: 'base', code: { text: 'charge' }, amount: money(share.total) },
          { type: 'deduction', code: { text: 'insurance pays' }, amount: money(share.insurance) },
          { type: 'informational', code: { text: 'patient responsibility' }, amount: money(share.patient) },
        ],
      };
    }),
    totalGross: money(split.total),
    totalNet: money(split.patient),
    extension: [
      { url: PAYMENT_STATUS_EXTENSION, valueCode: input.paymentStatus },
      { url: PATIENT_SHARE_EXTENSION, valueMoney: money(split.patient) },
    ],
    note: [
      ...split.lines.map((l) => ({ text: l.explanation })),
      { text: `Total ${format(split.total)}: insurance ${format(split.insurance)}, you pay ${format(split.patient)}.` },
      ...input.notes.map((text) => ({ text })),
    ],
    paymentTerms: 'Due within 30 days of the final bill.',
  };
}

/** Upserts the invoice unless a final bill was already paid or refunded (then it is left alone). */
export async function writeInvoice(medplum: MedplumClient, input: InvoiceInput): Promise<WithId<Invoice>> {
  const query = q(INVOICE_SYSTEM, `${input.encounter.id}/${input.kind}`);
  const existing = await medplum.searchOne('Invoice', query, { cache: 'no-cache' });
  const settled = existing && ['paid', 'refunded', 'partially-refunded', 'pending'].includes(paymentStatusOf(existing) ?? '');
  if (existing && settled) return existing;
  const invoice = invoiceFor(input);
  return medplum.upsertResource(invoice, query);
}

export function claimFor(
  encounter: WithId<Encounter>,
  patient: WithId<Patient> | { id: string },
  coverage: WithId<Coverage>,
  lines: ChargeLine[],
  provider: string | undefined,
): Claim {
  const total = lines.reduce((a, l) => a + l.total, 0);
  return {
    resourceType: 'Claim',
    identifier: [{ system: CLAIM_SYSTEM, value: encounter.id }],
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'institutional' }] },
    use: 'claim',
    patient: { reference: `Patient/${patient.id}` },
    created: new Date().toISOString(),
    ...(coverage.payor?.[0] ? { insurer: coverage.payor[0] as Claim['insurer'] } : {}),
    provider: provider ? { reference: provider } : { display: 'EmergiSphere emergency department' },
    priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    insurance: [{ sequence: 1, focal: true, coverage: { reference: `Coverage/${coverage.id}` } }],
    item: lines.map((l, i) => ({
      sequence: i + 1,
      productOrService: { coding: [{ system: l.entry.codeSystem, code: l.entry.code, display: l.entry.display }] },
      quantity: { value: l.quantity },
      unitPrice: money(l.unitPrice),
      net: money(l.total),
      encounter: [{ reference: `Encounter/${encounter.id}` }],
    })),
    total: money(total),
  };
}

/** The Task that keeps a claim the payer has not accepted visible (and retried) until it is. */
export const BILLING_TASK_SYSTEM = `${ES}/CodeSystem/billing-task`;
export const CLAIM_TASK_SYSTEM = `${ES}/claim-submission`;

export function isAccepted(submission: string | undefined): boolean {
  return !!submission?.startsWith('accepted');
}

/** POSTs the Claim (FHIR JSON) to the payer; a returned ClaimResponse is stored. Never throws: the outcome is the text. */
export async function sendClaim(medplum: MedplumClient, claim: WithId<Claim>, endpoint: string): Promise<string> {
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(claim),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (!res.ok) return `refused by the payer (HTTP ${res.status}): ${text.slice(0, 200)}`;
    let submission = `accepted by the payer (HTTP ${res.status})`;
    const body = text ? (JSON.parse(text) as { resourceType?: string }) : undefined;
    if (body?.resourceType === 'ClaimResponse') {
      const response = await medplum.createResource({ ...(body as object), request: { reference: `Claim/${claim.id}` } } as never);
      submission += ` — ClaimResponse/${(response as { id: string }).id}`;
    }
    return submission;
  } catch (err) {
    return `not delivered to the payer: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Records the submission on the Claim and keeps the claim's Task in step: a failure opens (or
 * updates) a `claim-submission` Task for the billing office with the reason and the attempt count;
 * acceptance completes it. So a refused or unreachable claim is never silently lost.
 */
export async function recordSubmission(
  medplum: MedplumClient,
  claim: WithId<Claim>,
  submission: string,
  attempted: boolean,
): Promise<{ claim: WithId<Claim>; task?: string }> {
  const written = await medplum.updateResource(withExtension(claim, CLAIM_SUBMISSION_EXTENSION, { valueString: submission }));
  if (!attempted) return { claim: written };
  const query = q(CLAIM_TASK_SYSTEM, claim.id);
  const existing = await medplum.searchOne('Task', query, { cache: 'no-cache' });
  if (isAccepted(submission) && !existing) return { claim: written };
  const attempts = (existing?.input?.find((i) => i.type?.text === 'attempts')?.valueInteger ?? 0) + 1;
  const task = await medplum.upsertResource<Task>(
    {
      resourceType: 'Task',
      identifier: [{ system: CLAIM_TASK_SYSTEM, value: claim.id }],
      status: isAccepted(submission) ? 'completed' : 'requested',
      intent: 'order',
      priority: 'routine',
      code: { coding: [{ system: BILLING_TASK_SYSTEM, code: 'claim-submission', display: 'Claim submission' }] },
      description: `Submit Claim/${claim.id} to the payer`,
      focus: { reference: `Claim/${claim.id}` },
      ...(claim.patient ? { for: claim.patient } : {}),
      authoredOn: existing?.authoredOn ?? new Date().toISOString(),
      lastModified: new Date().toISOString(),
      businessStatus: { text: `attempt ${attempts}: ${submission}` },
      ...(isAccepted(submission) ? {} : { statusReason: { text: submission } }),
      input: [{ type: { text: 'attempts' }, valueInteger: attempts }],
    },
    query,
  );
  return { claim: written, task: `Task/${task.id}` };
}

/**
 * The claim, written once per visit and sent to the payer's endpoint (`PAYER_CLAIM_URL`, a JSON
 * POST of the Claim) when configured; the answer is recorded on the Claim (see recordSubmission).
 */
export async function writeClaim(
  medplum: MedplumClient,
  claim: Claim,
  endpoint: string | undefined,
): Promise<{ claim: string; submission: string; task?: string }> {
  const query = q(CLAIM_SYSTEM, claim.identifier?.[0]?.value as string);
  const existing = await medplum.searchOne('Claim', query, { cache: 'no-cache' });
  const previous = existing?.extension?.find((e) => e.url === CLAIM_SUBMISSION_EXTENSION)?.valueString;
  if (existing && isAccepted(previous)) return { claim: `Claim/${existing.id}`, submission: previous as string };
  const written = await medplum.upsertResource(claim, query);
  const submission = endpoint ? await sendClaim(medplum, written, endpoint) : 'not submitted: no PAYER_CLAIM_URL configured';
  const recorded = await recordSubmission(medplum, written, submission, !!endpoint);
  return { claim: `Claim/${recorded.claim.id}`, submission, ...(recorded.task ? { task: recorded.task } : {}) };
}

/** Retries every claim whose submission Task is still open (`$execute {"action":"resubmit-claims"}`, cron). */
export async function resubmitClaims(
  medplum: MedplumClient,
  endpoint: string | undefined,
): Promise<{ retried: { claim: string; submission: string }[] }> {
  if (!endpoint) return { retried: [] };
  const open = await medplum.searchResources(
    'Task',
    { code: `${BILLING_TASK_SYSTEM}|claim-submission`, status: 'requested', _count: '100' },
    { cache: 'no-cache' },
  );
  const retried: { claim: string; submission: string }[] = [];
  for (const task of open) {
    const ref = task.focus?.reference;
    if (!ref?.startsWith('Claim/')) continue;
    const claim = await medplum.readResource('Claim', ref.split('/')[1], { cache: 'no-cache' });
    const submission = await sendClaim(medplum, claim, endpoint);
    await recordSubmission(medplum, claim, submission, true);
    retried.push({ claim: ref, submission });
  }
  return { retried };
}
