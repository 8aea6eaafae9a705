import type { Account, ChargeItem } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { planBar, planDft } from './dft.ts';

describe('DFT^P03 → ChargeItems', () => {
  const plan = planDft(Message.parse(corpus.dftP03));
  const charges = plan.upserts.filter((u) => u.resourceType === 'ChargeItem');
  test('one ChargeItem per charge FT1, with price, quantity, times, performer, account, context', () => {
    expect(charges.map((c) => c.identifier.value)).toEqual(['TX9001', 'TX9002']);
    const c = charges[0].resource as ChargeItem;
    expect(c).toMatchObject({
      status: 'billable',
      code: { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99285' }] },
      occurrenceDateTime: '2026-01-05T08:30:00-05:00',
      enteredDate: '2026-01-05T20:00:00-05:00',
      quantity: { value: 1 },
      priceOverride: { value: 1450, currency: 'USD' },
    });
    expect(c.performer?.[0].actor.display).toBe('John Carter');
    expect(c.account?.[0].reference).toMatch(/^local:Account\|/);
    expect(c.context?.reference).toMatch(/^local:Encounter\|/);
    expect(plan.upserts.find((u) => u.resourceType === 'Account')?.mode).toBe('create-only');
    expect(plan.upserts.find((u) => u.resourceType === 'Encounter')?.mode).toBe('reference-only');
  });
  test('credits reverse a charge; payments are not charge items', () => {
    const text = corpus.dftP03.replace('|CG|80053', '|CD|80053').replace('|CG|99285', '|PY|99285');
    const list = planDft(Message.parse(text)).upserts.filter((u) => u.resourceType === 'ChargeItem');
    expect(list.map((c) => (c.resource as ChargeItem).status)).toEqual(['aborted']);
  });
});

describe('BAR^P01 → Account', () => {
  test('account number, subject, guarantor; merged', () => {
    const account = planBar(Message.parse(corpus.barP01)).upserts.find((u) => u.resourceType === 'Account');
    expect(account?.mode).toBe('merge');
    expect(account?.identifier).toMatchObject({ value: 'ACC7001', type: { coding: [{ code: 'AN' }] } });
    expect(account?.resource as Account).toMatchObject({ status: 'active', guarantor: [{ party: { display: "Patrick O'Brien" } }] });
  });
  test('no account number: AE naming PID-18', () => {
    expect(() => planBar(Message.parse(corpus.barP01.replace('ACC7001^^^GENHOSP^AN', '')))).toThrow(/PID-18/);
  });
});
