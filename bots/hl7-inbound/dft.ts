import type { Account, ChargeItem, Encounter, Identifier, Money, Reference } from '@medplum/fhirtypes';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';
import { cxToIdentifier } from './datatypes/cx.ts';
import { formatName, xpnToHumanName } from './datatypes/xpn.ts';
import { patientFromPid, withDefaultSystem } from './pid.ts';
import {
  ConversionError,
  type ConversionOptions,
  localRef,
  type MessagePlan,
  messageInstant,
  sourceOf,
  type Upsert,
  upsertKey,
} from './plan.ts';
import { encounterFromPv1, practitionerRef } from './pv1.ts';

/**
 * The IG has no map for DFT or BAR; ours: FT1 → ChargeItem, PID-18 (patient account number) →
 * Account, GT1 → Account.guarantor. Charges (FT1-6 CG) are billable, credits (CD) reverse one
 * (aborted); payments and adjustments (PY, AJ) are not charge items and are left to billing.
 */

/** CP/MO "1450.00&USD" (price ^ price type …; price = quantity & denomination) → Money. */
export function moneyOf(segment: Segment, field: number): Money | undefined {
  const rep = segment.rep(field);
  const value = Number(rep.c(1, 1));
  if (!rep.c(1, 1) || !Number.isFinite(value)) return undefined;
  const currency = rep.c(1, 2);
  return { value, ...(currency ? { currency: currency as Money['currency'] } : {}) };
}

/** The account named by PID-18, as an upsert (merge for BAR, create-only for DFT). */
function accountUpsert(message: Message, patientKey: string, mode: Upsert['mode'], timezone?: string): Upsert<Account> | undefined {
  const pid = message.segment('PID') as Segment;
  const identifier = withDefaultSystem(cxToIdentifier(pid.rep(18), 'AN'), message);
  if (!identifier) return undefined;
  const pv1 = message.segment('PV1');
  const start = pv1?.value(44) ? dtmToFhirDateTime(pv1.value(44), timezone) : undefined;
  const end = pv1?.value(45) ? dtmToFhirDateTime(pv1.value(45), timezone) : undefined;
  const guarantors = message.all('GT1').flatMap((gt1) => {
    const name = formatName(xpnToHumanName(gt1.rep(3)));
    return name ? [{ party: { display: name } }] : [];
  });
  const account: Account = {
    resourceType: 'Account',
    identifier: [identifier],
    status: 'active',
    name: `Account ${identifier.value}`,
    subject: [localRef(patientKey)],
    ...(start || end ? { servicePeriod: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } : {}),
    ...(guarantors.length ? { guarantor: guarantors } : {}),
  };
  return { key: upsertKey('Account', identifier), resourceType: 'Account', identifier, resource: account, mode };
}

/** DFT^P03 → ChargeItems (one per FT1), with the Account and (when known) the Encounter. */
export function planDft(message: Message, options: ConversionOptions = {}): MessagePlan {
  const { timezone } = options;
  const upserts: Upsert[] = [];
  const patient = patientFromPid(message, 'create-only', options);
  upserts.push(patient);
  const account = accountUpsert(message, patient.key, 'create-only', timezone);
  if (account) upserts.push(account);
  let context: Reference<Encounter> | undefined;
  if (message.segment('PV1')) {
    try {
      const encounter = encounterFromPv1({ message, patientKey: patient.key, mode: 'reference-only', options }, []);
      upserts.push(encounter);
      context = localRef(encounter.key);
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err;
    }
  }
  message.all('FT1').forEach((ft1, i) => {
    const type = ft1.value(6).toUpperCase();
    if (type !== 'CG' && type !== 'CD') return;
    const code = cweToCodeableConcept(ft1.rep(7)) ?? cweToCodeableConcept(ft1.rep(25));
    if (!code)
      throw new ConversionError({
        code: '101',
        text: 'FT1-7 (transaction code) is required',
        location: { segment: 'FT1', sequence: i + 1, field: 7 },
      });
    const identifier: Identifier = withDefaultSystem(cxToIdentifier(ft1.rep(2)), message) ?? {
      system: 'https://emergisphere.dev/fhir/sid/hl7v2-ft1',
      value: `${sourceOf(message)}^${ft1.value(1) || i + 1}`,
    };
    const from = ft1.value(4, 1) ? dtmToFhirDateTime(ft1.value(4, 1), timezone) : undefined;
    const to = ft1.value(4, 2) ? dtmToFhirDateTime(ft1.value(4, 2), timezone) : undefined;
    const posted = ft1.value(5) ? dtmToFhirDateTime(ft1.value(5), timezone) : undefined;
    const quantity = Number(ft1.value(10));
    const price = moneyOf(ft1, 11);
    const performer = ft1.reps(20).flatMap((r) => practitionerRef(r, message, upserts) ?? []);
    const enterer = practitionerRef(ft1.rep(24), message, upserts);
    const charge: ChargeItem = {
      resourceType: 'ChargeItem',
      identifier: [identifier],
      status: type === 'CD' ? 'aborted' : 'billable',
      code,
      subject: localRef(patient.key),
      ...(context ? { context } : {}),
      ...(from && to ? { occurrencePeriod: { start: from, end: to } } : from ? { occurrenceDateTime: from } : {}),
      ...(posted ? { enteredDate: posted } : {}),
      ...(ft1.value(10) && Number.isFinite(quantity) ? { quantity: { value: quantity } } : {}),
      ...(price ? { priceOverride: price } : {}),
      ...(performer.length
        ? { performer: performer.map((actor) => ({ actor: actor as NonNullable<ChargeItem['performer']>[number]['actor'] })) }
        : {}),
      ...(enterer ? { enterer: enterer as ChargeItem['enterer'] } : {}),
      ...(account ? { account: [localRef(account.key)] } : {}),
      ...(cweToCodeableConcept(ft1.rep(25)) && ft1.value(7) ? { productCodeableConcept: cweToCodeableConcept(ft1.rep(25)) } : {}),
    };
    upserts.push({ key: upsertKey('ChargeItem', identifier), resourceType: 'ChargeItem', identifier, resource: charge, mode: 'merge' });
  });
  return { message, source: sourceOf(message), messageTime: messageInstant(message, timezone), upserts };
}

/** BAR^P01 (add patient account) → Account (merged), the patient created when unknown. */
export function planBar(message: Message, options: ConversionOptions = {}): MessagePlan {
  const upserts: Upsert[] = [];
  const patient = patientFromPid(message, 'create-only', options);
  upserts.push(patient);
  const account = accountUpsert(message, patient.key, 'merge', options.timezone);
  if (!account)
    throw new ConversionError({
      code: '101',
      text: 'PID-18 (patient account number) is required',
      location: { segment: 'PID', sequence: 1, field: 18 },
    });
  upserts.push(account);
  return { message, source: sourceOf(message), messageTime: messageInstant(message, options.timezone), upserts };
}
