import type { CodeableConcept, Observation, ObservationReferenceRange, Quantity } from '@medplum/fhirtypes';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Rep, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';

const DATA_ABSENT = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/**
 * OBX-11 (HL7 table 0085) → Observation.status (IG ObservationResultStatusCodesInterpretation).
 * X is "cannot be obtained" (cancelled + data absent reason); N is "not asked", which the IG leaves
 * unmapped: we record it as cancelled with data absent reason not-asked.
 */
export const OBSERVATION_STATUS: Record<string, Observation['status']> = {
  F: 'final',
  C: 'corrected',
  A: 'amended',
  B: 'amended',
  P: 'preliminary',
  R: 'preliminary',
  S: 'preliminary',
  I: 'registered',
  O: 'registered',
  U: 'final',
  V: 'final',
  D: 'entered-in-error',
  W: 'entered-in-error',
  X: 'cancelled',
  N: 'cancelled',
};

export type ObservationValue = Pick<
  Observation,
  'valueQuantity' | 'valueString' | 'valueCodeableConcept' | 'valueDateTime' | 'valueTime' | 'valueRatio' | 'valueRange' | 'valuePeriod'
>;

/** OBX-6 (CWE) → the unit part of a Quantity (UCUM when the units are coded in UCUM). */
export function unitsOf(obx: Segment): Omit<Quantity, 'value'> {
  const units = obx.rep(6);
  const code = units.c(1);
  const text = units.c(2) || code;
  if (!code && !text) return {};
  const ucum = units.c(3).toUpperCase() === 'UCUM' || units.c(6).toUpperCase() === 'UCUM';
  return {
    unit: text,
    ...(ucum ? { system: 'http://unitsofmeasure.org', code: ucum && units.c(3).toUpperCase() === 'UCUM' ? code : units.c(4) } : {}),
  };
}

function decimal(text: string): number | undefined {
  const t = text.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t) ? Number(t) : undefined;
}

const COMPARATORS = ['<', '<=', '>=', '>'] as const;

/**
 * One OBX-5 repetition → a value, by OBX-2 (IG OBX[Observation]): NM → Quantity with OBX-6 units;
 * ST/FT/TX → string (formatting escapes decoded); CE/CWE/CNE/CF/IS/ID → CodeableConcept; DT/DTM/TS →
 * dateTime; TM → time; SN → Ratio (":" or "/"), Range ("-"), string ("+") or Quantity with a
 * comparator; NR → Range; DR → Period.
 */
export function observationValue(type: string, rep: Rep, obx: Segment, timezone?: string): ObservationValue | undefined {
  if (rep.empty || rep.isNull) return undefined;
  const units = unitsOf(obx);
  const quantity = (text: string): Quantity | undefined => {
    const value = decimal(text);
    return value === undefined ? undefined : { value, ...units };
  };
  switch (type) {
    case 'NM': {
      const q = quantity(rep.c(1));
      return q ? { valueQuantity: q } : { valueString: rep.c(1) };
    }
    case 'ST':
    case 'FT':
    case 'TX':
      return { valueString: rep.text() };
    case 'CE':
    case 'CWE':
    case 'CNE':
    case 'CF':
    case 'IS':
    case 'ID': {
      const cc: CodeableConcept | undefined =
        type === 'IS' || type === 'ID' ? { coding: [{ code: rep.c(1) }], text: rep.c(1) } : cweToCodeableConcept(rep);
      return cc ? { valueCodeableConcept: cc } : undefined;
    }
    case 'DT':
    case 'DTM':
    case 'TS': {
      const dt = dtmToFhirDateTime(rep.c(1), timezone);
      return dt ? { valueDateTime: dt } : { valueString: rep.c(1) };
    }
    case 'TM': {
      const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(rep.c(1));
      return m ? { valueTime: `${m[1]}:${m[2] ?? '00'}:${m[3] ?? '00'}` } : { valueString: rep.c(1) };
    }
    case 'SN': {
      const comparator = rep.c(1);
      const n1 = rep.c(2);
      const separator = rep.c(3);
      const n2 = rep.c(4);
      if (separator === ':' || separator === '/') {
        const numerator = quantity(n1);
        const denominator = quantity(n2);
        if (numerator && denominator) return { valueRatio: { numerator, denominator } };
      } else if (separator === '-') {
        const low = quantity(n1);
        const high = quantity(n2);
        if (low || high) return { valueRange: { ...(low ? { low } : {}), ...(high ? { high } : {}) } };
      } else if (!separator) {
        const q = quantity(n1);
        if (q && (!comparator || comparator === '=')) return { valueQuantity: q };
        if (q && (COMPARATORS as readonly string[]).includes(comparator)) {
          return { valueQuantity: { ...q, comparator: comparator as Quantity['comparator'] } };
        }
      }
      return { valueString: [comparator, n1, separator, n2].filter(Boolean).join(' ') };
    }
    case 'NR': {
      const low = quantity(rep.c(1));
      const high = quantity(rep.c(2));
      return low || high ? { valueRange: { ...(low ? { low } : {}), ...(high ? { high } : {}) } } : undefined;
    }
    case 'DR': {
      const start = dtmToFhirDateTime(rep.c(1, 1) || rep.c(1), timezone);
      const end = dtmToFhirDateTime(rep.c(2, 1) || rep.c(2), timezone);
      return start || end ? { valuePeriod: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } : undefined;
    }
    default:
      return { valueString: rep.text() };
  }
}

/** OBX-7 → referenceRange: the text, and low/high when it reads "a-b", "<b" or ">a". */
export function referenceRange(obx: Segment): ObservationReferenceRange[] | undefined {
  const text = obx.rep(7).text();
  if (!text) return undefined;
  const units = unitsOf(obx);
  const range: ObservationReferenceRange = { text };
  const between = /^\s*(-?\d+\.?\d*)\s*-\s*(-?\d+\.?\d*)\s*$/.exec(text);
  const below = /^\s*<=?\s*(-?\d+\.?\d*)\s*$/.exec(text);
  const above = /^\s*>=?\s*(-?\d+\.?\d*)\s*$/.exec(text);
  if (between) {
    range.low = { value: Number(between[1]), ...units };
    range.high = { value: Number(between[2]), ...units };
  } else if (below) range.high = { value: Number(below[1]), ...units };
  else if (above) range.low = { value: Number(above[1]), ...units };
  return [range];
}

/** OBX-8 abnormal flags → interpretation (v3-ObservationInterpretation shares the v2 codes). */
export function interpretation(obx: Segment): CodeableConcept[] | undefined {
  const flags = obx
    .reps(8)
    .map((r) => r.c(1))
    .filter(Boolean);
  return flags.length ? flags.map((code) => ({ coding: [{ system: INTERPRETATION, code }] })) : undefined;
}

/** The value part of an Observation from one OBX: value[x], or components for repeating OBX-5, or a data absent reason. */
export function observationContent(
  obx: Segment,
  code: CodeableConcept,
  timezone?: string,
): Pick<Observation, 'component' | 'dataAbsentReason'> & ObservationValue {
  const status = obx.value(11).toUpperCase();
  const type = obx.value(2).toUpperCase();
  const values = obx.reps(5).flatMap((r) => observationValue(type, r, obx, timezone) ?? []);
  if (status === 'X' || status === 'N' || values.length === 0) {
    const reason = status === 'N' ? 'not-asked' : status === 'X' ? 'cannot-be-obtained' : 'unknown';
    return { dataAbsentReason: { coding: [{ system: DATA_ABSENT, code: reason }] } };
  }
  if (values.length === 1 || type === 'ST' || type === 'FT' || type === 'TX') {
    if (values.length > 1) return { valueString: values.map((v) => v.valueString).join('\n') };
    return values[0];
  }
  return { component: values.map((v) => ({ code, ...v })) };
}
