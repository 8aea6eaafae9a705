/**
 * Insurance: the patient's Coverage (or one made from an insurance card), then an eligibility
 * check against the payer endpoint of the `PAYER_ELIGIBILITY_URL` secret. Every outcome — in force,
 * not in force, payer down, no endpoint — is written for billing and never stops the step.
 */

import type { WithId } from '@medplum/core';
import type { Coverage, CoverageEligibilityRequest, CoverageEligibilityResponse, Patient } from '@medplum/fhirtypes';
import { createOnce } from '../lib/idempotency.ts';
import type { StepContext, StepOutput } from '../lib/workflow-step.ts';
import { secret } from './agent.ts';
import { BOT_NAME, INSURANCE_CARD_TYPE } from './codes.ts';
import { askPayer } from './eligibility.ts';
import {
  coverageFromCard,
  eligibilityRequest,
  eligibilitySummary,
  errorResponse,
  payerPayload,
  pickCoverage,
  readInsuranceCard,
  responseFromPayer,
} from './insurance.ts';
import { documentText, latestDocument } from './verify-id.ts';

export const DEFAULT_PAYER_TIMEOUT_MS = 5000;

export interface CoverageCheck {
  outputs: StepOutput[];
  line: string;
}

async function findCoverage(ctx: StepContext, patient: WithId<Patient>): Promise<{ coverage?: WithId<Coverage>; note?: string }> {
  const coverages = await ctx.medplum.searchResources(
    'Coverage',
    { beneficiary: `Patient/${patient.id}`, _count: '20' },
    { cache: 'no-cache' },
  );
  const picked = pickCoverage(coverages);
  if (picked) return { coverage: picked };
  const card = await latestDocument(ctx.medplum, patient.id, INSURANCE_CARD_TYPE);
  if (!card) return { note: 'no coverage or insurance card on file (self-pay until registration completes)' };
  const read = readInsuranceCard(await documentText(ctx.medplum, card));
  if (!read) return { note: `the insurance card DocumentReference/${card.id} could not be read` };
  const coverage = await createOnce<Coverage>(ctx.medplum, {
    bot: BOT_NAME,
    trigger: ctx.trigger,
    effect: 'coverage',
    resource: coverageFromCard(read, patient),
  });
  return { coverage: coverage as WithId<Coverage>, note: `Coverage/${coverage.id} made from the insurance card` };
}

export async function checkCoverage(ctx: StepContext, patient: WithId<Patient>): Promise<CoverageCheck> {
  if (!ctx.encounter) return { outputs: [], line: 'Insurance: no encounter.' };
  const found = await findCoverage(ctx, patient);
  if (!found.coverage) return { outputs: [], line: `Insurance: ${found.note}.` };
  const coverage = found.coverage;
  const outputs: StepOutput[] = [{ type: 'coverage', reference: `Coverage/${coverage.id}` }];
  const prefix = `Insurance: Coverage/${coverage.id} (${coverage.payor?.[0]?.display ?? coverage.payor?.[0]?.reference ?? 'payer unknown'}, member ${coverage.subscriberId ?? '?'})${found.note ? `, ${found.note}` : ''}`;
  const url = secret(ctx.secrets, 'PAYER_ELIGIBILITY_URL');
  if (!url) return { outputs, line: `${prefix}; no payer endpoint configured (PAYER_ELIGIBILITY_URL), eligibility not checked.` };
  const now = new Date().toISOString();
  const request = (await createOnce<CoverageEligibilityRequest>(ctx.medplum, {
    bot: BOT_NAME,
    trigger: ctx.trigger,
    effect: 'eligibility-request',
    resource: eligibilityRequest(coverage, patient, ctx.encounter, now),
  })) as WithId<CoverageEligibilityRequest>;
  const timeout = Number(secret(ctx.secrets, 'PAYER_TIMEOUT_MS'));
  const answer = await askPayer(
    { url, token: secret(ctx.secrets, 'PAYER_ELIGIBILITY_TOKEN'), timeoutMs: timeout > 0 ? timeout : DEFAULT_PAYER_TIMEOUT_MS },
    payerPayload(request, coverage, patient),
  );
  const response =
    (answer.ok && responseFromPayer(answer.body, request, now)) ||
    errorResponse(request, answer.ok ? 'the payer answered something that is not a CoverageEligibilityResponse' : answer.reason, now);
  const saved = await createOnce<CoverageEligibilityResponse>(ctx.medplum, {
    bot: BOT_NAME,
    trigger: ctx.trigger,
    effect: 'eligibility-response',
    resource: response,
  });
  outputs.push({ type: 'eligibility request', reference: `CoverageEligibilityRequest/${request.id}` });
  outputs.push({ type: 'eligibility response', reference: `CoverageEligibilityResponse/${saved.id}` });
  return { outputs, line: `${prefix}; eligibility: ${eligibilitySummary(saved)}.` };
}
