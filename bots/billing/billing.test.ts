import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChargeItemDefinition, Coverage, CoverageEligibilityResponse } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { catalogFrom, chargeLines, emLevel } from './charges.ts';
import { benefitsFrom, NETWORK_STATUS_EXTENSION, splitCharges } from './coverage.ts';
import { format, percentOf, toCents, toDecimal } from './money.ts';

const catalog = catalogFrom(
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../seed/charge-catalog.json'), 'utf8')) as ChargeItemDefinition[],
);
const LOINC = 'http://loinc.org';

describe('money', () => {
  test('exact decimal arithmetic in cents', () => {
    expect(toCents(0.1) + toCents(0.2)).toBe(toCents('0.30'));
    expect(toCents('1340.00')).toBe(134000);
    expect(toCents('4.505')).toBe(451);
    expect(toDecimal(451)).toBe(4.51);
    expect(percentOf(2250, 20)).toBe(450);
    expect(percentOf(333, 12.5)).toBe(42); // 41.625 → 42
    expect(format(123456)).toBe('$1,234.56');
    expect(() => toCents('12,50')).toThrow(/money/);
  });
});

describe('charges', () => {
  test('E/M level by acuity and resources', () => {
    expect(emLevel(2, []).code).toBe('99285');
    expect(emLevel(3, ['laboratory', 'imaging:71046']).code).toBe('99284');
    expect(emLevel(4, ['laboratory']).code).toBe('99283');
    expect(emLevel(4, []).code).toBe('99282');
    expect(emLevel(5, []).code).toBe('99281');
  });

  test('chest pain: troponin, CBC, ECG and a chest X-ray → four lines plus level 5', () => {
    const { lines, unmatched } = chargeLines(
      {
        emergency: true,
        esi: 2,
        services: [
          { source: 'Observation/trop', codings: [{ system: LOINC, code: '89579-7' }] },
          { source: 'Observation/cbc', codings: [{ system: LOINC, code: '58410-2' }] },
          { source: 'Procedure/ecg', codings: [{ system: 'http://snomed.info/sct', code: '29303009' }] },
          { source: 'DiagnosticReport/cxr', codings: [{ system: LOINC, code: '36643-5' }] },
          { source: 'Procedure/other', codings: [{ system: 'http://snomed.info/sct', code: '1' }] },
        ],
      },
      catalog,
    );
    expect(lines.map((l) => l.entry.code)).toEqual(['99285', '84484', '85025', '93005', '71046']);
    expect(unmatched).toEqual(['Procedure/other']);
    expect(lines[0].reason).toContain('ESI 2');
  });

  test('minor injury: splint and supplies do not raise the level', () => {
    const { lines } = chargeLines(
      {
        emergency: true,
        esi: 4,
        services: [
          { source: 'Procedure/splint', codings: [{ system: 'http://snomed.info/sct', code: '79321009' }] },
          { source: 'Procedure/splint#supply', codings: [{ system: 'http://snomed.info/sct', code: '53996008' }], quantity: 2 },
        ],
      },
      catalog,
    );
    expect(lines.map((l) => [l.entry.code, l.total])).toEqual([
      ['99282', 29000],
      ['29125', 23000],
      ['A4570', 7000],
    ]);
  });
});

const coverage: Coverage = {
  resourceType: 'Coverage',
  id: 'cov',
  status: 'active',
  beneficiary: { reference: 'Patient/1' },
  payor: [{ display: 'Acme Health' }],
};

function eligibility(
  network: 'in' | 'out',
  items: NonNullable<CoverageEligibilityResponse['insurance']>[0]['item'],
): CoverageEligibilityResponse {
  return {
    resourceType: 'CoverageEligibilityResponse',
    status: 'active',
    purpose: ['benefits'],
    patient: { reference: 'Patient/1' },
    created: '2025-03-03',
    request: { reference: 'CoverageEligibilityRequest/1' },
    outcome: 'complete',
    insurer: { display: 'Acme Health' },
    insurance: [
      {
        coverage: { reference: 'Coverage/cov' },
        inforce: true,
        extension: [{ url: NETWORK_STATUS_EXTENSION, valueCode: network }],
        item: items,
      },
    ],
  } as CoverageEligibilityResponse;
}

const benefit = (code: string, value: Record<string, unknown>) => ({
  type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/benefit-type', code }] },
  ...value,
});
const item = (net: 'in' | 'out', copay: string, deductible: string, used: string, coins: number) => ({
  network: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/benefit-network', code: net }] },
  benefit: [
    benefit('copay', { allowedMoney: { value: Number(copay), currency: 'USD' } }),
    benefit('deductible', {
      allowedMoney: { value: Number(deductible), currency: 'USD' },
      usedMoney: { value: Number(used), currency: 'USD' },
    }),
    benefit('copay-percent', { allowedUnsignedInt: coins }),
  ],
});

describe('insurance split', () => {
  const { lines } = chargeLines(
    { emergency: true, esi: 3, services: [{ source: 'DiagnosticReport/cxr', codings: [{ system: LOINC, code: '36643-5' }] }] },
    catalog,
  );
  // 99283 $520 + 71046 $240

  test('copay, then the deductible left, then coinsurance; explained per line', () => {
    const benefits = benefitsFrom(coverage, eligibility('in', [item('in', '150', '1000', '700', 20)]), true);
    const split = splitCharges(lines, benefits);
    // line 1 $520: copay 150, deductible 300 (all that is left), coinsurance 20% of 70 = 14 → patient 464
    expect(split.lines[0]).toMatchObject({ copay: 15000, deductible: 30000, coinsurance: 1400, patient: 46400, insurance: 5600 });
    // line 2 $240: coinsurance 20% = 48
    expect(split.lines[1]).toMatchObject({ copay: 0, deductible: 0, coinsurance: 4800, patient: 4800, insurance: 19200 });
    expect(split).toMatchObject({ total: 76000, patient: 51200, insurance: 24800 });
    expect(split.lines[0].explanation).toContain('visit copay $150.00');
    expect(split.lines[0].explanation).toContain('deductible $300.00 ($0.00 left after this line)');
    expect(split.lines[0].explanation).toContain('Acme Health pays $56.00');
  });

  test('out of network: emergency care keeps in-network cost sharing; clinic care uses the out-of-network benefits', () => {
    const response = eligibility('out', [item('in', '150', '1000', '1000', 20), item('out', '300', '3000', '0', 50)]);
    const er = splitCharges(lines, benefitsFrom(coverage, response, true));
    expect(er.benefits?.basis).toContain('No Surprises Act');
    expect(er.patient).toBe(15000 + percentOf(37000, 20) + percentOf(24000, 20));
    const clinic = splitCharges(lines, benefitsFrom(coverage, response, false));
    expect(clinic.benefits?.basis).toBe('out of network');
    expect(clinic.patient).toBe(30000 + 46000); // copay 300, then the deductible takes the rest of both lines
    const none = splitCharges(lines, benefitsFrom(coverage, eligibility('out', [item('in', '150', '0', '0', 20)]), false));
    expect(none).toMatchObject({ patient: 76000, insurance: 0 });
    expect(none.lines[0].explanation).toContain('not covered');
  });

  test('self-pay without coverage', () => {
    const split = splitCharges(lines, benefitsFrom(undefined, undefined, true));
    expect(split).toMatchObject({ patient: 76000, insurance: 0 });
    expect(split.lines[1].explanation).toContain('self-pay');
  });
});
