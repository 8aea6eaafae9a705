import type { Annotation, CodeableConcept, DiagnosticReport, Encounter, Identifier, Observation, Reference } from '@medplum/fhirtypes';
import { dtmToFhirDateTime } from '../../hl7-bridge/hl7v2/datetime.ts';
import type { Message, Segment } from '../../hl7-bridge/hl7v2/message.ts';
import { cweToCodeableConcept } from './datatypes/cwe.ts';
import { eiToIdentifier } from './datatypes/ei.ts';
import { interpretation, OBSERVATION_STATUS, observationContent, referenceRange } from './obx.ts';
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

/** OBR-25 result status (HL7 table 0123) → DiagnosticReport.status (IG ResultStatus map). */
const REPORT_STATUS: Record<string, DiagnosticReport['status']> = {
  O: 'registered',
  I: 'registered',
  S: 'registered',
  A: 'partial',
  P: 'preliminary',
  C: 'corrected',
  M: 'corrected',
  R: 'partial',
  F: 'final',
  X: 'cancelled',
  N: 'partial',
};

/** LOINC codes of vital signs: their Observations are categorized vital-signs (NEWS2 reads those). */
const VITAL_SIGNS = new Set([
  '8867-4',
  '9279-1',
  '59408-5',
  '2708-6',
  '8480-6',
  '8462-4',
  '8310-5',
  '29463-7',
  '8302-2',
  '85354-9',
  '39156-5',
  '67775-7',
  '85353-1',
]);
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

function category(code: CodeableConcept): CodeableConcept[] {
  const vital = code.coding?.some((c) => c.system === 'http://loinc.org' && VITAL_SIGNS.has(c.code ?? ''));
  return [{ coding: [{ system: CATEGORY, code: vital ? 'vital-signs' : 'laboratory' }] }];
}

interface OrderGroup {
  obr: Segment;
  results: { obx: Segment; notes: string[] }[];
}

/** OBR, its OBX segments and the NTE segments that follow each OBX. */
function orderGroups(message: Message): OrderGroup[] {
  const groups: OrderGroup[] = [];
  for (const seg of message.segments) {
    if (seg.name === 'OBR') groups.push({ obr: seg, results: [] });
    else if (seg.name === 'OBX' && groups.length) groups[groups.length - 1].results.push({ obx: seg, notes: [] });
    else if (seg.name === 'NTE') {
      const results = groups[groups.length - 1]?.results;
      if (results?.length) results[results.length - 1].notes.push(seg.rep(3).text());
    }
  }
  return groups;
}

/** The report's key: OBR-3 filler order number, else OBR-2 placer, else this message's OBR set id. */
function reportIdentifier(obr: Segment, message: Message, index: number): Identifier {
  const filler = withDefaultSystem(eiToIdentifier(obr.rep(3), 'FILL'), message);
  if (filler) return filler;
  const placer = withDefaultSystem(eiToIdentifier(obr.rep(2), 'PLAC'), message);
  if (placer) return placer;
  return { system: 'https://emergisphere.dev/fhir/sid/hl7v2-report', value: `${sourceOf(message)}^${obr.value(1) || index + 1}` };
}

/**
 * ORU^R01 → one DiagnosticReport per OBR and one Observation per OBX (IG OBR[DiagnosticReport],
 * OBX[Observation]). Results are merged by key (OBX-21, else the order number + OBX-3 + OBX-4), so
 * a corrected result (OBX-11 = C) replaces the final one. The patient is created when unknown but
 * never changed (the lab does not own demographics); the encounter is only referred to when known.
 */
export function planOru(message: Message, options: ConversionOptions = {}): MessagePlan {
  const { timezone } = options;
  const upserts: Upsert[] = [];
  const patient = patientFromPid(message, 'create-only', options);
  upserts.push(patient);
  let encounterRef: Reference<Encounter> | undefined;
  if (message.segment('PV1')) {
    try {
      const encounter = encounterFromPv1({ message, patientKey: patient.key, mode: 'reference-only', options }, []);
      upserts.push(encounter);
      encounterRef = localRef(encounter.key);
    } catch (err) {
      if (!(err instanceof ConversionError)) throw err;
    }
  }
  const groups = orderGroups(message);
  if (groups.length === 0) throw new ConversionError({ code: '100', text: 'ORU^R01 without an OBR segment', location: { segment: 'OBR' } });
  groups.forEach((group, gi) => {
    const { obr } = group;
    const reportId = reportIdentifier(obr, message, gi);
    const reportCode = cweToCodeableConcept(obr.rep(4)) as CodeableConcept;
    const observationTime = obr.value(7) ? dtmToFhirDateTime(obr.value(7), timezone) : undefined;
    const results: Reference<Observation>[] = [];
    group.results.forEach(({ obx, notes }, oi) => {
      const code = cweToCodeableConcept(obx.rep(3));
      if (!code)
        throw new ConversionError({
          code: '101',
          text: 'OBX-3 (observation identifier) is required',
          location: { segment: 'OBX', sequence: oi + 1, field: 3 },
        });
      const instance = withDefaultSystem(eiToIdentifier(obx.rep(21)), message);
      const identifier: Identifier = instance ?? {
        system: 'https://emergisphere.dev/fhir/sid/hl7v2-obx',
        value: [reportId.system, reportId.value, obx.value(3, 3), obx.value(3), obx.value(4)].join('^'),
      };
      const effective = obx.value(14) ? dtmToFhirDateTime(obx.value(14), timezone) : observationTime;
      const performer = obx.reps(16).flatMap((r) => practitionerRef(r, message, upserts) ?? []);
      const method = cweToCodeableConcept(obx.rep(17));
      const bodySite = cweToCodeableConcept(obx.rep(20));
      const observation: Observation = {
        resourceType: 'Observation',
        identifier: [identifier],
        status: OBSERVATION_STATUS[obx.value(11).toUpperCase()] ?? 'unknown',
        category: category(code),
        code,
        subject: localRef(patient.key),
        ...(encounterRef ? { encounter: encounterRef } : {}),
        ...(effective ? { effectiveDateTime: effective } : {}),
        ...observationContent(obx, code, timezone),
        ...(interpretation(obx) ? { interpretation: interpretation(obx) } : {}),
        ...(referenceRange(obx) ? { referenceRange: referenceRange(obx) } : {}),
        ...(performer.length ? { performer: performer as Observation['performer'] } : {}),
        ...(method ? { method } : {}),
        ...(bodySite ? { bodySite } : {}),
        ...(notes.length ? { note: notes.map((text): Annotation => ({ text })) } : {}),
      };
      const key = upsertKey('Observation', identifier);
      upserts.push({ key, resourceType: 'Observation', identifier, resource: observation, mode: 'merge' });
      results.push(localRef(key));
    });
    const issued = obr.value(22) ? dtmToFhirDateTime(obr.value(22), timezone) : undefined;
    const section = cweToCodeableConcept(obr.rep(24));
    const interpreters = obr.reps(32).flatMap((r) => practitionerRef(r, message, upserts) ?? []);
    const placer = withDefaultSystem(eiToIdentifier(obr.rep(2), 'PLAC'), message);
    const report: DiagnosticReport = {
      resourceType: 'DiagnosticReport',
      identifier: placer && placer.value !== reportId.value ? [reportId, placer] : [reportId],
      status: REPORT_STATUS[obr.value(25).toUpperCase()] ?? 'unknown',
      category: [section ?? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
      code: reportCode,
      subject: localRef(patient.key),
      ...(encounterRef ? { encounter: encounterRef } : {}),
      ...(observationTime ? { effectiveDateTime: observationTime } : {}),
      ...(issued && issued.length > 19 ? { issued: new Date(issued).toISOString() } : {}),
      ...(interpreters.length ? { resultsInterpreter: interpreters as DiagnosticReport['resultsInterpreter'] } : {}),
      ...(results.length ? { result: results } : {}),
    };
    upserts.push({
      key: upsertKey('DiagnosticReport', reportId),
      resourceType: 'DiagnosticReport',
      identifier: reportId,
      resource: report,
      mode: 'merge',
    });
  });
  return { message, source: sourceOf(message), messageTime: messageInstant(message, timezone), upserts };
}
