/**
 * Medication safety alerts from the patient's record, as pure functions:
 * - drug-allergy conflict: an active order whose ingredient is an allergen, or belongs to a class
 *   the patient is allergic to (v3 ActCode `ALGY`);
 * - related allergy: an order in the same class as an allergen where the class cross-reacts, or in
 *   a class with a known (usually low) cross-reactivity (`RALG`);
 * - critical allergy: an active allergy of high criticality (awareness, with what to avoid);
 * - duplicate therapy: two active orders with the same ingredient (`DUPTHPGEN`) or in the same
 *   class (`DUPTHPCLS`).
 * Each alert has a stable key (kind + what it implicates), so re-running raises nothing twice.
 */
import type { AllergyIntolerance, DetectedIssue, Medication, MedicationRequest, Reference } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';
import type { CompiledDrugTable, Identified } from './drugs.ts';
import { conceptText, medicationConcept } from './record.ts';

export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const ALERT_SYSTEM = `${ES}/CodeSystem/medication-alert`;
export const DETECTED_ISSUE_ID_SYSTEM = `${ES}/detected-issue`;

export type AlertKind = 'drug-allergy' | 'related-allergy' | 'critical-allergy' | 'duplicate-therapy';
export type Severity = 'high' | 'moderate' | 'low';

export interface Alert {
  kind: AlertKind;
  /** v3 ActCode detected-issue code, where one fits. */
  actCode?: 'ALGY' | 'RALG' | 'DUPTHPGEN' | 'DUPTHPCLS';
  severity: Severity;
  title: string;
  /** The explanation, with the rule that fired. */
  detail: string;
  /** "Type/id" of the resources involved (orders first). */
  implicated: string[];
  /** Stable identity of the alert (kind + implicated resources). */
  key: string;
}

export interface AlertInput {
  allergies: AllergyIntolerance[];
  orders: MedicationRequest[];
  medications: Map<string, Medication>;
  /** Only alerts implicating this resource ("MedicationRequest/1"), e.g. a new order. */
  focus?: string;
}

const ACT_DISPLAY = {
  ALGY: 'Allergy Alert',
  RALG: 'Related Allergy Alert',
  DUPTHPGEN: 'duplicate generic alert',
  DUPTHPCLS: 'duplicate therapeutic class alert',
} as const;

const ACTIVE_ORDER = new Set(['active', 'on-hold']);
const RANK: Record<Severity, number> = { low: 0, moderate: 1, high: 2 };

const ref = (r: { resourceType: string; id?: string }) => `${r.resourceType}/${r.id}`;

/** An allergy that counts: not resolved or inactive, not refuted or entered in error. */
export function isActiveAllergy(a: AllergyIntolerance): boolean {
  const clinical = a.clinicalStatus?.coding?.[0]?.code;
  const verification = a.verificationStatus?.coding?.[0]?.code;
  return clinical !== 'inactive' && clinical !== 'resolved' && verification !== 'refuted' && verification !== 'entered-in-error';
}

export function isActiveOrder(o: MedicationRequest): boolean {
  return ACTIVE_ORDER.has(o.status) && o.doNotPerform !== true;
}

/** "penicillin (criticality high, confirmed; anaphylaxis, severe)". */
export function describeAllergy(a: AllergyIntolerance): string {
  const facts = [a.criticality ? `criticality ${a.criticality}` : undefined, a.verificationStatus?.coding?.[0]?.code].filter(Boolean);
  const reactions = (a.reaction ?? [])
    .flatMap((r) => (r.manifestation ?? []).map((m) => `${conceptText(m)}${r.severity ? `, ${r.severity}` : ''}`))
    .slice(0, 3);
  const parts = [facts.join(', '), reactions.join('; ')].filter(Boolean);
  return `${conceptText(a.code, 'unspecified allergen')}${parts.length ? ` (${parts.join('; ')})` : ''}`;
}

function allergen(a: AllergyIntolerance, drugs: CompiledDrugTable): Identified {
  const all = [a.code, ...(a.reaction ?? []).map((r) => r.substance)].map((c) => drugs.identify(c));
  return {
    ingredients: [...new Set(all.flatMap((x) => x.ingredients))],
    classes: [...new Set(all.flatMap((x) => x.classes))],
    via: [...new Set(all.flatMap((x) => x.via))],
  };
}

interface OrderDrug {
  order: MedicationRequest;
  name: string;
  ingredients: string[];
  classes: string[];
}

function orderDrug(order: MedicationRequest, input: AlertInput, drugs: CompiledDrugTable): OrderDrug {
  const concept = medicationConcept(order, input.medications);
  const found = drugs.identify(concept);
  const classes = new Set([...found.classes, ...found.ingredients.flatMap((i) => drugs.classesOf(i))]);
  return { order, name: conceptText(concept, 'unnamed medication'), ingredients: found.ingredients, classes: [...classes] };
}

const display = (drugs: CompiledDrugTable, id: string) => drugs.drug(id)?.display ?? drugs.drugClass(id)?.display ?? id;

/** The strongest way an order conflicts with one allergy, if it does. */
function allergyConflict(o: OrderDrug, a: AllergyIntolerance, drugs: CompiledDrugTable): Alert | undefined {
  const source = allergen(a, drugs);
  const described = describeAllergy(a);
  const lowCriticality = a.criticality === 'low';
  const highCriticality = a.criticality === 'high';
  const implicated = [ref(o.order), ref(a)];
  const base = { implicated, key: '' };
  const conflict = (detail: string): Alert => ({
    ...base,
    kind: 'drug-allergy',
    actCode: 'ALGY',
    severity: lowCriticality ? 'moderate' : 'high',
    title: `Drug-allergy conflict: ${o.name}`,
    detail,
  });
  const direct = o.ingredients.find((i) => source.ingredients.includes(i));
  if (direct) {
    return conflict(
      `${o.name} contains ${display(drugs, direct)}; the patient is allergic to it: ${described}. Rule: ordered ingredient equals a recorded allergen.`,
    );
  }
  const namedClass = o.classes.find((c) => source.classes.includes(c));
  if (namedClass) {
    const name = display(drugs, namedClass);
    return conflict(
      `${o.name} is one of the ${name}; the patient is allergic to ${name.toLowerCase()}: ${described}. Rule: ordered drug in an allergen class.`,
    );
  }
  for (const ingredient of source.ingredients) {
    const shared = drugs.classesOf(ingredient).find((c) => o.classes.includes(c) && drugs.drugClass(c)?.intraClassCrossReactivity);
    if (shared) {
      return {
        ...base,
        kind: 'related-allergy',
        actCode: 'RALG',
        severity: highCriticality ? 'high' : 'moderate',
        title: `Related allergy: ${o.name}`,
        detail: `${o.name} and ${display(drugs, ingredient)} are both ${display(drugs, shared)}, which cross-react; the patient is allergic to ${display(drugs, ingredient)}: ${described}. Rule: same class as an allergen.`,
      };
    }
  }
  const allergenClasses = new Set([...source.classes, ...source.ingredients.flatMap((i) => drugs.classesOf(i))]);
  for (const c of allergenClasses) {
    for (const cross of drugs.drugClass(c)?.crossReactivity ?? []) {
      if (o.classes.includes(cross.class)) {
        const severity: Severity = highCriticality && cross.severity === 'low' ? 'moderate' : cross.severity;
        return {
          ...base,
          kind: 'related-allergy',
          actCode: 'RALG',
          severity,
          title: `Possible cross-reactivity: ${o.name}`,
          detail: `${o.name} is one of the ${display(drugs, cross.class)}; the patient is allergic to ${display(drugs, c).toLowerCase()}: ${described}. ${cross.note[0].toUpperCase()}${cross.note.slice(1)}. Rule: class cross-reactivity.`,
        };
      }
    }
  }
  return undefined;
}

function criticalAllergy(a: AllergyIntolerance, drugs: CompiledDrugTable): Alert {
  const source = allergen(a, drugs);
  const classes = [...new Set([...source.classes, ...source.ingredients.flatMap((i) => drugs.classesOf(i))])];
  const avoid = [
    ...source.ingredients.map((i) => display(drugs, i)),
    ...classes.filter((c) => drugs.drugClass(c)?.intraClassCrossReactivity).map((c) => `all ${display(drugs, c).toLowerCase()}`),
  ];
  const caution = classes.flatMap((c) => (drugs.drugClass(c)?.crossReactivity ?? []).map((x) => display(drugs, x.class).toLowerCase()));
  const advice = [
    avoid.length ? `Avoid ${[...new Set(avoid)].join(', ')}.` : '',
    caution.length ? `Use caution with ${[...new Set(caution)].join(', ')} (cross-reactivity).` : '',
  ].filter(Boolean);
  return {
    kind: 'critical-allergy',
    severity: 'high',
    title: `Critical allergy: ${conceptText(a.code, 'unspecified allergen')}`,
    detail: `High-criticality allergy: ${describeAllergy(a)}.${advice.length ? ` ${advice.join(' ')}` : ''} Rule: AllergyIntolerance.criticality = high.`,
    implicated: [ref(a)],
    key: '',
  };
}

function duplicate(a: OrderDrug, b: OrderDrug, drugs: CompiledDrugTable): Alert | undefined {
  const implicated = [ref(a.order), ref(b.order)].sort();
  const sameIngredient = a.ingredients.find((i) => b.ingredients.includes(i));
  if (sameIngredient) {
    return {
      kind: 'duplicate-therapy',
      actCode: 'DUPTHPGEN',
      severity: 'moderate',
      title: `Duplicate therapy: ${display(drugs, sameIngredient)} ordered twice`,
      detail: `${a.name} and ${b.name} both contain ${display(drugs, sameIngredient)}. Rule: two active orders with the same ingredient.`,
      implicated,
      key: '',
    };
  }
  const sameClass = a.classes.find((c) => b.classes.includes(c) && drugs.drugClass(c)?.duplicateTherapy);
  if (sameClass) {
    return {
      kind: 'duplicate-therapy',
      actCode: 'DUPTHPCLS',
      severity: 'moderate',
      title: `Duplicate therapy: two ${display(drugs, sameClass)}`,
      detail: `${a.name} and ${b.name} are both ${display(drugs, sameClass)}. Rule: two active orders in the same therapeutic class.`,
      implicated,
      key: '',
    };
  }
  return undefined;
}

/** Every alert the allergies and active orders give, strongest first, each with its stable key. */
export function findAlerts(input: AlertInput, drugs: CompiledDrugTable): Alert[] {
  const allergies = input.allergies.filter(isActiveAllergy);
  const orders = input.orders.filter(isActiveOrder).map((o) => orderDrug(o, input, drugs));
  const alerts: Alert[] = [];
  for (const o of orders) {
    for (const a of allergies) {
      const conflict = allergyConflict(o, a, drugs);
      if (conflict) alerts.push(conflict);
    }
  }
  for (const a of allergies) {
    if (a.criticality === 'high') alerts.push(criticalAllergy(a, drugs));
  }
  for (let i = 0; i < orders.length; i++) {
    for (let j = i + 1; j < orders.length; j++) {
      const d = duplicate(orders[i], orders[j], drugs);
      if (d) alerts.push(d);
    }
  }
  return (
    alerts
      // No commas: the key is searched for as a token, where a comma separates alternatives.
      .map((a) => ({ ...a, key: `${a.kind}:${a.implicated.join(';')}` }))
      .filter((a) => !input.focus || a.implicated.includes(input.focus))
      .sort((a, b) => RANK[b.severity] - RANK[a.severity])
  );
}

/** The alert as a DetectedIssue: code, severity, implicated resources, the explanation and its key. */
export function detectedIssue(alert: Alert, patient: Reference, identified: string): DetectedIssue {
  const coding = [
    ...(alert.actCode ? [{ system: ACT_CODE, code: alert.actCode, display: ACT_DISPLAY[alert.actCode] }] : []),
    { system: ALERT_SYSTEM, code: alert.kind },
  ];
  return {
    resourceType: 'DetectedIssue',
    identifier: [{ system: DETECTED_ISSUE_ID_SYSTEM, value: alert.key }],
    status: 'preliminary',
    code: { coding, text: alert.title },
    severity: alert.severity,
    patient: patient as DetectedIssue['patient'],
    identifiedDateTime: identified,
    author: { display: 'EmergiSphere medical records agent (automated check)' },
    implicated: alert.implicated.map((reference) => ({ reference })),
    evidence: [{ detail: alert.implicated.filter((r) => r.startsWith('AllergyIntolerance/')).map((reference) => ({ reference })) }].filter(
      (e) => e.detail.length > 0,
    ),
    detail: alert.detail,
  };
}
