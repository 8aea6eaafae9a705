/**
 * The patient summary as a FHIR `Composition`, in the spirit of the International Patient Summary:
 * document type LOINC 60591-5, one section per kind of information (LOINC section codes), each
 * with `entry` references to the resources and a readable narrative. Sections with nothing in
 * the record say so (`emptyReason` unavailable: nothing is recorded, which is not "none known").
 * Pure: the record in, the Composition out.
 */
import type {
  CodeableConcept,
  Composition,
  CompositionSection,
  Consent,
  Encounter,
  Observation,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import { describeAllergy, isActiveAllergy, isActiveOrder } from './alerts.ts';
import { conceptText, medicationConcept, type PatientRecord } from './record.ts';

export const LOINC = 'http://loinc.org';

/** The sections, in IPS order, with their LOINC codes. */
export const SECTIONS = {
  problems: { code: '11450-4', display: 'Problem list - Reported', title: 'Active problems' },
  allergies: { code: '48765-2', display: 'Allergies and adverse reactions Document', title: 'Allergies and intolerances' },
  medications: { code: '10160-0', display: 'History of Medication use Narrative', title: 'Medications' },
  results: { code: '30954-2', display: 'Relevant diagnostic tests/laboratory data Narrative', title: 'Results' },
  vitals: { code: '8716-3', display: 'Vital signs', title: 'Vital signs' },
  procedures: { code: '47519-4', display: 'History of Procedures Document', title: 'Procedures' },
  immunizations: { code: '11369-6', display: 'History of Immunization Narrative', title: 'Immunizations' },
  directives: { code: '42348-3', display: 'Advance healthcare directives', title: 'Advance directives' },
  encounters: { code: '46240-8', display: 'History of Hospitalizations+Outpatient visits Narrative', title: 'Prior encounters' },
} as const;
export type SectionKey = keyof typeof SECTIONS;

/** How many lines a section lists at most (the entries beyond are the oldest). */
const LIMITS = { results: 30, procedures: 20, immunizations: 20, encounters: 10 } as const;

export interface SummaryContext {
  patient: Reference;
  encounter?: Reference;
  /** The author shown on the document. */
  author: Reference;
  custodian?: Reference;
  now: string;
}

interface Line {
  resource: Resource;
  text: string;
}

export function escapeXhtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** A narrative div: a list of lines, or a sentence when empty. */
export function narrative(lines: string[], empty: string): string {
  const body = lines.length ? `<ul>${lines.map((l) => `<li>${escapeXhtml(l)}</li>`).join('')}</ul>` : `<p>${escapeXhtml(empty)}</p>`;
  return `<div xmlns="http://www.w3.org/1999/xhtml">${body}</div>`;
}

const date = (value: string | undefined) => (value ? value.slice(0, 10) : undefined);
const ref = (r: Resource): Reference => ({ reference: `${r.resourceType}/${r.id}` });
const codeOf = (c: CodeableConcept | undefined) => c?.coding?.[0]?.code;
const newest = <T extends Resource>(items: T[], when: (r: T) => string | undefined) =>
  [...items].sort((a, b) => (when(b) ?? '').localeCompare(when(a) ?? ''));

function section(key: SectionKey, lines: Line[]): CompositionSection {
  const s = SECTIONS[key];
  const base: CompositionSection = { title: s.title, code: { coding: [{ system: LOINC, code: s.code, display: s.display }] } };
  if (lines.length === 0) {
    return {
      ...base,
      text: { status: 'generated', div: narrative([], `No ${s.title.toLowerCase()} recorded in this hospital's record.`) },
      emptyReason: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: 'unavailable', display: 'Unavailable' }],
      },
    };
  }
  return {
    ...base,
    text: {
      status: 'generated',
      div: narrative(
        lines.map((l) => l.text),
        '',
      ),
    },
    entry: lines.map((l) => ref(l.resource)),
  };
}

const ACTIVE_CONDITION = new Set(['active', 'recurrence', 'relapse']);

function problems(record: PatientRecord): Line[] {
  return record.conditions
    .filter((c) => ACTIVE_CONDITION.has(codeOf(c.clinicalStatus) ?? '') && codeOf(c.verificationStatus) !== 'entered-in-error')
    .filter((c) => codeOf(c.verificationStatus) !== 'refuted')
    .map((c) => {
      const since = date(c.onsetDateTime ?? c.recordedDate);
      const status = codeOf(c.verificationStatus);
      const facts = [since ? `since ${since}` : '', status && status !== 'confirmed' ? status : ''].filter(Boolean);
      return { resource: c, text: `${conceptText(c.code, 'unnamed condition')}${facts.length ? ` (${facts.join(', ')})` : ''}` };
    });
}

function allergies(record: PatientRecord): Line[] {
  return record.allergies.filter(isActiveAllergy).map((a) => ({ resource: a, text: describeAllergy(a) }));
}

function medications(record: PatientRecord): Line[] {
  const dose = (d: { text?: string }[] | undefined) => d?.[0]?.text;
  const statements = record.medicationStatements
    .filter((s) => s.status === 'active' || s.status === 'intended' || s.status === 'on-hold')
    .map((s) => {
      const name = conceptText(medicationConcept(s, record.medications), 'unnamed medication');
      return {
        resource: s,
        text: `${name}${dose(s.dosage) ? ` — ${dose(s.dosage)}` : ''} (taking${s.status === 'active' ? '' : `, ${s.status}`})`,
      };
    });
  const orders = record.medicationRequests.filter(isActiveOrder).map((o) => {
    const name = conceptText(medicationConcept(o, record.medications), 'unnamed medication');
    const when = date(o.authoredOn);
    return {
      resource: o,
      text: `${name}${dose(o.dosageInstruction) ? ` — ${dose(o.dosageInstruction)}` : ''} (ordered${when ? ` ${when}` : ''}${o.status === 'on-hold' ? ', on hold' : ''})`,
    };
  });
  return [...orders, ...statements];
}

const hasCategory = (o: Observation, code: string) => !!o.category?.some((c) => c.coding?.some((x) => x.code === code));
const effective = (o: Observation) => o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued;

function value(o: Observation): string {
  if (o.valueQuantity?.value !== undefined) return `${o.valueQuantity.value}${o.valueQuantity.unit ? ` ${o.valueQuantity.unit}` : ''}`;
  if (o.valueCodeableConcept) return conceptText(o.valueCodeableConcept);
  if (o.valueString !== undefined) return o.valueString;
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  if (o.valueBoolean !== undefined) return o.valueBoolean ? 'yes' : 'no';
  if (o.component?.length) {
    return o.component
      .filter((c) => c.valueQuantity?.value !== undefined)
      .map((c) => `${conceptText(c.code)} ${c.valueQuantity?.value}${c.valueQuantity?.unit ? ` ${c.valueQuantity.unit}` : ''}`)
      .join(', ');
  }
  return 'no value';
}

/** The newest Observation per code (LOINC code, else text), newest first. */
function latestPerCode(observations: Observation[]): Observation[] {
  const seen = new Set<string>();
  const out: Observation[] = [];
  for (const o of newest(observations, effective)) {
    const key = o.code?.coding?.map((c) => `${c.system}|${c.code}`).join(',') || conceptText(o.code);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(o);
    }
  }
  return out;
}

function observationLine(o: Observation): Line {
  const flag = o.interpretation?.map((i) => conceptText(i)).join(', ');
  const when = effective(o);
  return {
    resource: o,
    text: `${conceptText(o.code, 'unnamed test')}: ${value(o)}${flag ? ` [${flag}]` : ''}${when ? ` (${when.slice(0, 16).replace('T', ' ')})` : ''}`,
  };
}

const usable = (o: Observation) => o.status !== 'entered-in-error' && o.status !== 'cancelled';

function results(record: PatientRecord): Line[] {
  const labs = latestPerCode(record.observations.filter((o) => usable(o) && hasCategory(o, 'laboratory'))).map(observationLine);
  const reports = newest(
    record.diagnosticReports.filter((r) => r.status !== 'entered-in-error' && r.status !== 'cancelled'),
    (r) => r.effectiveDateTime ?? r.issued,
  ).map((r) => ({
    resource: r,
    text: `${conceptText(r.code, 'report')}${r.conclusion ? `: ${r.conclusion}` : ''} (${r.status}${r.effectiveDateTime ? `, ${date(r.effectiveDateTime)}` : ''})`,
  }));
  return [...reports, ...labs].slice(0, LIMITS.results);
}

function vitals(record: PatientRecord): Line[] {
  return latestPerCode(record.observations.filter((o) => usable(o) && hasCategory(o, 'vital-signs'))).map(observationLine);
}

function procedures(record: PatientRecord): Line[] {
  const when = (p: (typeof record.procedures)[number]) => p.performedDateTime ?? p.performedPeriod?.start;
  return newest(
    record.procedures.filter((p) => p.status === 'completed' || p.status === 'in-progress'),
    when,
  )
    .slice(0, LIMITS.procedures)
    .map((p) => ({
      resource: p,
      text: `${conceptText(p.code, 'unnamed procedure')}${when(p) ? ` (${date(when(p))})` : ''}${p.status === 'in-progress' ? ' — in progress' : ''}`,
    }));
}

function immunizations(record: PatientRecord): Line[] {
  return newest(
    record.immunizations.filter((i) => i.status === 'completed'),
    (i) => i.occurrenceDateTime,
  )
    .slice(0, LIMITS.immunizations)
    .map((i) => ({
      resource: i,
      text: `${conceptText(i.vaccineCode, 'vaccine')}${i.occurrenceDateTime ? ` (${date(i.occurrenceDateTime)})` : ''}`,
    }));
}

/** Advance directives: Consents of scope "adr", or categorised as advance directives (DNR, POLST...). */
export function isAdvanceDirective(c: Consent): boolean {
  const scope = c.scope?.coding?.some((x) => x.code === 'adr');
  const category = c.category?.some(
    (cat) =>
      cat.coding?.some((x) => x.code === '59284-0' || x.code === '75320-2') ||
      /advance directive|dnr|polst|living will/i.test(cat.text ?? ''),
  );
  return !!(scope || category);
}

function directives(record: PatientRecord): Line[] {
  return record.consents
    .filter((c) => c.status === 'active' && isAdvanceDirective(c))
    .map((c) => {
      const what = c.category?.map((x) => conceptText(x)).join(', ') || 'advance directive';
      const provision = c.provision?.type
        ? `${c.provision.type}${c.provision.code?.length ? ` ${c.provision.code.map((x) => conceptText(x)).join(', ')}` : ''}`
        : '';
      return { resource: c, text: `${what}${provision ? ` — ${provision}` : ''}${c.dateTime ? ` (${date(c.dateTime)})` : ''}` };
    });
}

function encounters(record: PatientRecord, current: string | undefined): Line[] {
  return newest(
    record.encounters.filter((e) => `Encounter/${e.id}` !== current && e.status !== 'entered-in-error' && e.status !== 'cancelled'),
    (e) => e.period?.start,
  )
    .slice(0, LIMITS.encounters)
    .map((e: Encounter) => {
      const kind = e.class?.display ?? e.class?.code ?? 'visit';
      const reason = e.reasonCode?.map((r) => conceptText(r)).join(', ');
      return { resource: e, text: `${date(e.period?.start) ?? 'undated'} ${kind}${reason ? ` — ${reason}` : ''} (${e.status})` };
    });
}

export const SECTION_ORDER: SectionKey[] = [
  'problems',
  'allergies',
  'medications',
  'results',
  'vitals',
  'procedures',
  'immunizations',
  'directives',
  'encounters',
];

/** The summary of `record` for the context's patient and encounter. */
export function buildSummary(record: PatientRecord, ctx: SummaryContext): Composition {
  const lines: Record<SectionKey, Line[]> = {
    problems: problems(record),
    allergies: allergies(record),
    medications: medications(record),
    results: results(record),
    vitals: vitals(record),
    procedures: procedures(record),
    immunizations: immunizations(record),
    directives: directives(record),
    encounters: encounters(record, ctx.encounter?.reference),
  };
  return {
    resourceType: 'Composition',
    status: 'final',
    type: { coding: [{ system: LOINC, code: '60591-5', display: 'Patient summary Document' }], text: 'Patient summary' },
    subject: ctx.patient,
    ...(ctx.encounter ? { encounter: ctx.encounter as Composition['encounter'] } : {}),
    date: ctx.now,
    author: [ctx.author as Composition['author'][number]],
    title: 'Patient summary',
    confidentiality: 'N',
    ...(ctx.custodian ? { custodian: ctx.custodian as Composition['custodian'] } : {}),
    section: SECTION_ORDER.map((key) => section(key, lines[key])),
  };
}

/** Entries per section, for the step's rationale: "problems 2, allergies 1, …". */
export function sectionCounts(composition: Composition): string {
  return (composition.section ?? []).map((s) => `${s.title?.toLowerCase()} ${s.entry?.length ?? 0}`).join(', ');
}
