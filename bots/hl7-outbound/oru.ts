import type { DiagnosticReport, Encounter, Observation, ObservationComponent, Patient } from '@medplum/fhirtypes';
import { fhirToDtm } from '../../hl7-bridge/hl7v2/datetime.ts';
import { components, cweOf, unitsOf } from './datatypes.ts';
import { D, esc, msh, pid, pv1, type Sender, segment } from './segments.ts';

/** Observation.status → OBX-11 / DiagnosticReport.status → OBR-25. */
const RESULT_STATUS: Record<string, string> = {
  final: 'F',
  amended: 'C',
  corrected: 'C',
  preliminary: 'P',
  registered: 'I',
  partial: 'P',
  cancelled: 'X',
  'entered-in-error': 'W',
  appended: 'C',
};

type Valued = Pick<
  ObservationComponent,
  | 'valueQuantity'
  | 'valueString'
  | 'valueCodeableConcept'
  | 'valueBoolean'
  | 'valueInteger'
  | 'valueDateTime'
  | 'valueTime'
  | 'valueRange'
  | 'valueRatio'
  | 'valuePeriod'
>;

/** A FHIR value → OBX-2 (value type), OBX-5, OBX-6 (units). */
export function obxValue(v: Valued): { type: string; value: string; units: string } | undefined {
  const num = (n: number | undefined) => (n === undefined ? '' : String(n));
  if (v.valueQuantity) {
    const q = v.valueQuantity;
    if (q.comparator) return { type: 'SN', value: components(D, [esc(q.comparator), num(q.value)]), units: unitsOf(D, q) };
    return { type: 'NM', value: num(q.value), units: unitsOf(D, q) };
  }
  if (v.valueInteger !== undefined) return { type: 'NM', value: String(v.valueInteger), units: '' };
  if (v.valueString !== undefined) return { type: v.valueString.includes('\n') ? 'TX' : 'ST', value: esc(v.valueString), units: '' };
  if (v.valueCodeableConcept) return { type: 'CWE', value: cweOf(D, v.valueCodeableConcept), units: '' };
  if (v.valueBoolean !== undefined) return { type: 'CWE', value: v.valueBoolean ? 'Y^Yes^HL70136' : 'N^No^HL70136', units: '' };
  if (v.valueDateTime) return { type: 'DTM', value: fhirToDtm(v.valueDateTime), units: '' };
  if (v.valueTime) return { type: 'TM', value: v.valueTime.replaceAll(':', ''), units: '' };
  if (v.valueRange) {
    return {
      type: 'NR',
      value: components(D, [num(v.valueRange.low?.value), num(v.valueRange.high?.value)]),
      units: unitsOf(D, v.valueRange.low ?? v.valueRange.high),
    };
  }
  if (v.valueRatio) {
    return {
      type: 'SN',
      value: components(D, ['', num(v.valueRatio.numerator?.value), ':', num(v.valueRatio.denominator?.value)]),
      units: unitsOf(D, v.valueRatio.numerator),
    };
  }
  if (v.valuePeriod) return { type: 'DR', value: components(D, [fhirToDtm(v.valuePeriod.start), fhirToDtm(v.valuePeriod.end)]), units: '' };
  return undefined;
}

function rangeText(o: Observation): string {
  const r = o.referenceRange?.[0];
  if (!r) return '';
  if (r.text) return esc(r.text);
  if (r.low?.value !== undefined && r.high?.value !== undefined) return `${r.low.value}-${r.high.value}`;
  if (r.high?.value !== undefined) return `<${r.high.value}`;
  if (r.low?.value !== undefined) return `>${r.low.value}`;
  return '';
}

/** One Observation → its OBX segments (one per component when it has components). */
function obxSegments(o: Observation, next: () => number): string[] {
  const status = RESULT_STATUS[o.status] ?? 'F';
  const common = {
    7: rangeText(o),
    8: (o.interpretation ?? [])
      .map((i) => esc(i.coding?.[0]?.code))
      .filter(Boolean)
      .join(D.repetition),
    11: status,
    14: fhirToDtm(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued),
  };
  if (o.component?.length) {
    return o.component.map((c, i) => {
      const v = obxValue(c);
      const interpretation = (c.interpretation ?? [])
        .map((x) => esc(x.coding?.[0]?.code))
        .filter(Boolean)
        .join(D.repetition);
      return segment('OBX', {
        1: String(next()),
        2: v?.type ?? '',
        3: cweOf(D, c.code),
        4: String(i + 1),
        5: v?.value ?? '',
        6: v?.units ?? '',
        ...common,
        8: interpretation,
      });
    });
  }
  const v = obxValue(o);
  return [
    segment('OBX', {
      1: String(next()),
      2: v?.type ?? '',
      3: cweOf(D, o.code),
      5: v?.value ?? '',
      6: v?.units ?? '',
      ...common,
      11: v ? status : 'X',
    }),
  ];
}

/**
 * Final Observations → ORU^R01: one OBR for the DiagnosticReport (its code, identifiers, status)
 * or, for a standalone Observation, for the Observation itself; one OBX per result (per component).
 */
export function buildOru(
  input: { observations: Observation[]; patient: Patient; encounter?: Encounter; report?: DiagnosticReport },
  sender: Sender,
  controlId: string,
): string {
  const { observations, patient, encounter, report } = input;
  const first = observations[0];
  const subject = report ?? first;
  const filler = report?.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'FILL')) ?? report?.identifier?.[0];
  const placer = report?.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'PLAC'));
  const fillerId = filler
    ? components(D, [esc(filler.value), 'EMERGISPHERE'])
    : components(D, [esc(`${subject.resourceType}/${subject.id}`), 'EMERGISPHERE']);
  const placerId = placer ? components(D, [esc(placer.value), 'EMERGISPHERE']) : '';
  const effective = report?.effectiveDateTime ?? first?.effectiveDateTime;
  let n = 0;
  const segments = [
    msh(sender, subject.meta?.lastUpdated, `ORU${D.component}R01${D.component}ORU_R01`, controlId),
    pid(patient),
    ...(encounter ? [pv1(encounter, {})] : []),
    segment('ORC', { 1: 'RE', 2: placerId, 3: fillerId }),
    segment('OBR', {
      1: '1',
      2: placerId,
      3: fillerId,
      4: cweOf(D, report?.code ?? first?.code),
      7: fhirToDtm(effective),
      22: fhirToDtm(report?.issued ?? subject.meta?.lastUpdated),
      25: RESULT_STATUS[report?.status ?? first?.status ?? 'final'] ?? 'F',
    }),
    ...observations.flatMap((o) => obxSegments(o, () => ++n)),
  ];
  return `${segments.join('\r')}\r`;
}
