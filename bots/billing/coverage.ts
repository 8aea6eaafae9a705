/**
 * Who pays what: the patient's benefits (from the admission agent's Coverage and
 * CoverageEligibilityResponse) applied to the charge lines, explained line by line. Pure.
 *
 * Benefits are read from the eligibility response's `insurance.item`s (benefit-type codes):
 * `copay` (allowedMoney, once per visit), `deductible` (allowedMoney − usedMoney = what is left),
 * `copay-percent` (allowedUnsignedInt: the coinsurance percentage). Items carry their network
 * (`in` / `out`, benefit-network); whether this hospital is in the plan's network is stated by
 * the `network-status` extension on the response's `insurance` (default `in`).
 * Out of network, emergency care is charged with the in-network cost sharing (the No Surprises
 * Act); other care uses the out-of-network items, and without any it is not covered.
 * Per line: the visit copay first, then what is left of the deductible, then coinsurance on the
 * rest; the insurer pays the remainder.
 */
import type { Coverage, CoverageEligibilityResponse, CoverageEligibilityResponseInsuranceItem } from '@medplum/fhirtypes';
import type { ChargeLine } from './charges.ts';
import { type Cents, format, percentOf, toCents } from './money.ts';

export const NETWORK_STATUS_EXTENSION = 'https://emergisphere.dev/fhir/StructureDefinition/network-status';
const BENEFIT_TYPE = 'http://terminology.hl7.org/CodeSystem/benefit-type';

export interface Benefits {
  payer: string;
  covered: boolean;
  copay: Cents;
  deductibleRemaining: Cents;
  coinsurancePercent: number;
  /** How the benefits were chosen (network, exclusions). */
  basis: string;
}

export interface LineShare {
  key: string;
  total: Cents;
  copay: Cents;
  deductible: Cents;
  coinsurance: Cents;
  patient: Cents;
  insurance: Cents;
  explanation: string;
}

export interface Split {
  lines: LineShare[];
  total: Cents;
  patient: Cents;
  insurance: Cents;
  benefits?: Benefits;
}

function networkOf(item: CoverageEligibilityResponseInsuranceItem): string | undefined {
  return item.network?.coding?.[0]?.code;
}

function benefitOf(items: CoverageEligibilityResponseInsuranceItem[], type: string) {
  for (const item of items) {
    for (const b of item.benefit ?? []) {
      if (b.type?.coding?.some((c) => c.code === type && (!c.system || c.system === BENEFIT_TYPE))) return b;
    }
  }
  return undefined;
}

/** The benefits that apply to this visit, or undefined for a self-pay patient. */
export function benefitsFrom(
  coverage: Coverage | undefined,
  response: CoverageEligibilityResponse | undefined,
  emergency: boolean,
): Benefits | undefined {
  if (coverage?.status !== 'active') return undefined;
  const payer = coverage.payor?.[0]?.display ?? coverage.payor?.[0]?.reference ?? 'the insurer';
  const insurance = response?.insurance?.find((i) => !i.coverage?.reference || i.coverage.reference === `Coverage/${coverage.id}`);
  if (!response || response.outcome === 'error' || !insurance) {
    return { payer, covered: false, copay: 0, deductibleRemaining: 0, coinsurancePercent: 100, basis: 'no eligibility answer on file' };
  }
  if (insurance.inforce === false) {
    return { payer, covered: false, copay: 0, deductibleRemaining: 0, coinsurancePercent: 100, basis: 'coverage not in force' };
  }
  const status = insurance.extension?.find((e) => e.url === NETWORK_STATUS_EXTENSION)?.valueCode ?? 'in';
  const items = (insurance.item ?? []).filter((i) => !i.excluded);
  const inItems = items.filter((i) => networkOf(i) !== 'out');
  const outItems = items.filter((i) => networkOf(i) === 'out');
  let chosen: CoverageEligibilityResponseInsuranceItem[];
  let basis: string;
  if (status !== 'out') {
    chosen = inItems;
    basis = 'in network';
  } else if (emergency) {
    chosen = inItems.length ? inItems : outItems;
    basis = 'out of network, emergency care at in-network cost sharing (No Surprises Act)';
  } else {
    chosen = outItems;
    basis = 'out of network';
  }
  if (!chosen.length) {
    return {
      payer,
      covered: false,
      copay: 0,
      deductibleRemaining: 0,
      coinsurancePercent: 100,
      basis: `${basis}: no benefits for this care`,
    };
  }
  const copay = toCents(benefitOf(chosen, 'copay')?.allowedMoney?.value);
  const deductible = benefitOf(chosen, 'deductible');
  const remaining = Math.max(0, toCents(deductible?.allowedMoney?.value) - toCents(deductible?.usedMoney?.value));
  const coinsurance = benefitOf(chosen, 'copay-percent')?.allowedUnsignedInt ?? 0;
  return { payer, covered: true, copay, deductibleRemaining: remaining, coinsurancePercent: coinsurance, basis };
}

/** Splits every line between the patient and the insurer (see the module comment). */
export function splitCharges(lines: ChargeLine[], benefits: Benefits | undefined): Split {
  const shares: LineShare[] = [];
  let copayLeft = benefits?.covered ? benefits.copay : 0;
  let deductibleLeft = benefits?.covered ? benefits.deductibleRemaining : 0;
  for (const line of lines) {
    const name = `${line.entry.display} (${line.entry.code}) ${format(line.total)}`;
    if (!benefits?.covered) {
      const why = benefits ? `not covered by ${benefits.payer} (${benefits.basis})` : 'no insurance on file (self-pay)';
      shares.push({
        key: line.key,
        total: line.total,
        copay: 0,
        deductible: 0,
        coinsurance: 0,
        patient: line.total,
        insurance: 0,
        explanation: `${name}: ${why}; you pay ${format(line.total)}`,
      });
      continue;
    }
    let rest = line.total;
    const parts: string[] = [];
    const copay = Math.min(copayLeft, rest);
    copayLeft -= copay;
    rest -= copay;
    if (copay) parts.push(`visit copay ${format(copay)}`);
    const deductible = Math.min(deductibleLeft, rest);
    deductibleLeft -= deductible;
    rest -= deductible;
    if (deductible) parts.push(`deductible ${format(deductible)} (${format(deductibleLeft)} left after this line)`);
    const coinsurance = Math.min(rest, percentOf(rest, benefits.coinsurancePercent));
    if (coinsurance) parts.push(`coinsurance ${benefits.coinsurancePercent}% of ${format(rest)} = ${format(coinsurance)}`);
    const patient = copay + deductible + coinsurance;
    const insurance = line.total - patient;
    shares.push({
      key: line.key,
      total: line.total,
      copay,
      deductible,
      coinsurance,
      patient,
      insurance,
      explanation: `${name}: ${parts.length ? parts.join(', ') : 'fully covered'}; you pay ${format(patient)}, ${benefits.payer} pays ${format(insurance)} (${benefits.basis})`,
    });
  }
  const total = shares.reduce((a, s) => a + s.total, 0);
  const patient = shares.reduce((a, s) => a + s.patient, 0);
  return { lines: shares, total, patient, insurance: total - patient, benefits };
}
