/**
 * Insurance for billing: which `Coverage` to check, a Coverage from an insurance card's text, the
 * `CoverageEligibilityRequest` sent to the payer and the `CoverageEligibilityResponse` kept
 * (the payer's answer, or an `error` outcome saying why there is none). Pure; the HTTP call is in
 * eligibility.ts. Nothing here can hold up care: an unknown or unreachable payer is a note.
 */
import type {
  Coverage,
  CoverageEligibilityRequest,
  CoverageEligibilityResponse,
  Encounter,
  Organization,
  Patient,
  Reference,
} from '@medplum/fhirtypes';

const ref = (r: { resourceType: string; id?: string }) => ({ reference: `${r.resourceType}/${r.id}` });

/** The coverage to check: active before draft, the lowest `order` first. */
export function pickCoverage<T extends Coverage>(coverages: T[]): T | undefined {
  const usable = coverages.filter((c) => c.status === 'active' || c.status === 'draft');
  return usable.sort((a, b) => Number(b.status === 'active') - Number(a.status === 'active') || (a.order ?? 99) - (b.order ?? 99))[0];
}

export interface InsuranceCard {
  payer?: string;
  memberId?: string;
  group?: string;
  subscriber?: string;
}

/** An insurance card as OCR or a form gives it: "Member ID", "Group", the payer on the first line. */
export function readInsuranceCard(text: string): InsuranceCard | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const value = (re: RegExp) => lines.map((l) => re.exec(l)?.[1]?.trim()).find(Boolean);
  const memberId = value(/^(?:MEMBER|SUBSCRIBER|ID)\s*(?:ID|#|NO\.?|NUMBER)?\s*[:#]?\s*([A-Z0-9-]{4,})$/i);
  if (!memberId) return undefined;
  return {
    memberId,
    group: value(/^(?:GROUP|GRP)\s*(?:NO\.?|#|NUMBER)?\s*[:#]?\s*([A-Z0-9-]{2,})$/i),
    payer: value(/^(?:PAYER|INSURER|PLAN|CARRIER)\s*[:#]?\s*(.+)$/i) ?? lines.find((l) => !/\d/.test(l)),
    subscriber: value(/^(?:NAME|MEMBER\s*NAME|SUBSCRIBER\s*NAME)\s*[:#]?\s*(.+)$/i),
  };
}

export function coverageFromCard(card: InsuranceCard, patient: Patient & { id: string }, payer?: Reference<Organization>): Coverage {
  return {
    resourceType: 'Coverage',
    status: 'active',
    beneficiary: ref(patient),
    subscriberId: card.memberId,
    relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self' }] },
    payor: [payer ?? { display: card.payer ?? 'unknown payer' }],
    ...(card.group
      ? {
          class: [
            { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'group' }] }, value: card.group },
          ],
        }
      : {}),
  };
}

export function eligibilityRequest(
  coverage: Coverage & { id: string },
  patient: Patient & { id: string },
  encounter: Encounter & { id: string },
  created: string,
): CoverageEligibilityRequest {
  return {
    resourceType: 'CoverageEligibilityRequest',
    status: 'active',
    purpose: ['validation', 'benefits'],
    patient: ref(patient),
    created,
    servicedDate: created.slice(0, 10),
    insurer: (coverage.payor?.[0] ?? { display: 'unknown payer' }) as Reference<Organization>,
    ...(encounter.serviceProvider ? { provider: encounter.serviceProvider } : {}),
    insurance: [{ focal: true, coverage: ref(coverage) }],
    item: [
      {
        category: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/ex-benefitcategory', code: '30', display: 'Health Benefit Plan Coverage' },
          ],
        },
      },
    ],
  };
}

/**
 * What goes over the wire: the request with the Coverage and the patient's identifying data
 * contained, since the payer cannot read our server (only what it needs: no clinical data).
 */
export function payerPayload(request: CoverageEligibilityRequest, coverage: Coverage, patient: Patient): CoverageEligibilityRequest {
  const { id: _id, meta: _meta, ...rest } = request as CoverageEligibilityRequest & { id?: string };
  return {
    ...rest,
    contained: [
      {
        resourceType: 'Patient',
        id: 'patient',
        name: patient.name?.filter((n) => n.use !== 'old').slice(0, 1),
        birthDate: patient.birthDate,
        gender: patient.gender,
      },
      {
        resourceType: 'Coverage',
        id: 'coverage',
        status: coverage.status,
        subscriberId: coverage.subscriberId,
        beneficiary: { reference: '#patient' },
        payor: coverage.payor,
        ...(coverage.class ? { class: coverage.class } : {}),
        ...(coverage.relationship ? { relationship: coverage.relationship } : {}),
      },
    ],
    patient: { reference: '#patient' },
    insurance: [{ focal: true, coverage: { reference: '#coverage' } }],
  };
}

/** The payer's answer as ours: its references are to our request, patient and insurer. */
export function responseFromPayer(
  body: unknown,
  request: CoverageEligibilityRequest & { id: string },
  created: string,
): CoverageEligibilityResponse | undefined {
  const r = body as CoverageEligibilityResponse | undefined;
  if (r?.resourceType !== 'CoverageEligibilityResponse') return undefined;
  const outcome = ['queued', 'complete', 'error', 'partial'].includes(r.outcome) ? r.outcome : 'complete';
  return {
    resourceType: 'CoverageEligibilityResponse',
    status: 'active',
    purpose: request.purpose,
    patient: request.patient,
    created,
    request: ref(request),
    outcome,
    insurer: request.insurer,
    ...(r.disposition ? { disposition: r.disposition } : {}),
    ...(r.preAuthRef ? { preAuthRef: r.preAuthRef } : {}),
    insurance: (r.insurance ?? []).map((i) => ({ ...i, coverage: request.insurance?.[0]?.coverage ?? i.coverage })),
    ...(r.error?.length ? { error: r.error } : {}),
  };
}

/** No answer from the payer: an `error` response that says why, for billing to retry later. */
export function errorResponse(
  request: CoverageEligibilityRequest & { id: string },
  reason: string,
  created: string,
): CoverageEligibilityResponse {
  return {
    resourceType: 'CoverageEligibilityResponse',
    status: 'active',
    purpose: request.purpose,
    patient: request.patient,
    created,
    request: ref(request),
    outcome: 'error',
    insurer: request.insurer,
    disposition: `Eligibility not confirmed: ${reason}. Care is not affected; billing re-checks later.`,
    error: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/adjudication-error', code: 'a001' }], text: reason } }],
  };
}

/** One line for the step's outputs and for billing. */
export function eligibilitySummary(response: CoverageEligibilityResponse): string {
  if (response.outcome === 'error') return response.disposition ?? 'eligibility check failed';
  const inforce = response.insurance?.map((i) => i.inforce);
  const state = inforce?.includes(true)
    ? 'coverage in force'
    : inforce?.includes(false)
      ? 'coverage NOT in force'
      : 'coverage state not stated';
  return `${state}${response.disposition ? ` — ${response.disposition}` : ''}`;
}
