/**
 * A legal finding as FHIR, in one transaction (pure):
 * - DetectedIssue: the finding, the rule and its legal basis, the evidence;
 * - Flag: the chart warning, restricted (v3-Confidentiality R), so family never see it;
 * - Task for the legal liaison: the report to make (or the documentation), due by
 *   `restriction.period.end`, with the authority, the legal basis and a draft report;
 * - the legal case (a Task, see README) the report belongs to, once per encounter and case type;
 * - a page or notice to the on-call legal liaison team (through the communication agent).
 * Every resource carries the security label and an identifier derived from the encounter and the
 * finding, and is created only if that identifier is new: re-running never duplicates.
 */
import type {
  BundleEntry,
  Coding,
  CommunicationRequest,
  DetectedIssue,
  Encounter,
  Flag,
  Patient,
  Reference,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { COMMUNICATION_CATEGORY_SYSTEM, ES } from '../lib/workflow.ts';
import { evidenceLines, type Finding } from './evaluate.ts';
import { durationMs, type RuleAction } from './rules.ts';

export const RESTRICTED: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' };
export const LEGAL_FINDING_SYSTEM = `${ES}/CodeSystem/legal-finding`;
export const LEGAL_TASK_SYSTEM = `${ES}/CodeSystem/legal-task`;
export const LEGAL_CASE_TYPE_SYSTEM = `${ES}/CodeSystem/legal-case-type`;
const LEGAL_REPORT_PROFILE = `${ES}/StructureDefinition/legal-report-detectedissue`;
export const LEGAL_EVENT_SYSTEM = `${ES}/CodeSystem/legal-event`;
export const HIPAA_BASIS_SYSTEM = `${ES}/CodeSystem/hipaa-disclosure-basis`;
export const AUTHORITY_SYSTEM = `${ES}/authority`;
export const ID = {
  finding: `${ES}/legal-finding`,
  flag: `${ES}/legal-flag`,
  report: `${ES}/legal-report`,
  case: `${ES}/legal-case`,
  policeReport: `${ES}/police-report-number`,
  custody: `${ES}/custody`,
} as const;
export const LEGAL_RULE_URL = (jurisdiction: string, rule: string) => `${ES}/legal-rule/${jurisdiction}/${rule}`;

/** Task input/output names. */
export const PARAM = {
  rule: 'rule',
  action: 'action',
  authority: 'authority',
  statute: 'legal basis',
  hipaa: 'HIPAA basis',
  purpose: 'purpose of use',
  draft: 'draft report',
  informPatient: 'inform the patient',
  caseType: 'case type',
  decision: 'decision',
  report: 'report',
  disclosure: 'disclosure',
  outcome: 'outcome',
  evidence: 'evidence',
} as const;

const URNS = {
  issue: 'urn:uuid:1e6a1c00-0001-4000-8000-000000000001',
  flag: 'urn:uuid:1e6a1c00-0002-4000-8000-000000000002',
  case: 'urn:uuid:1e6a1c00-0003-4000-8000-000000000003',
  report: 'urn:uuid:1e6a1c00-0004-4000-8000-000000000004',
  page: 'urn:uuid:1e6a1c00-0005-4000-8000-000000000005',
} as const;

export interface FindingContext {
  patient: Patient & { id: string };
  encounter: Encounter & { id: string };
  now: string;
  /** The reporting authority: an Organization when one is configured, else its name. */
  authority?: Reference;
  /** The on-call legal liaison CareTeam, if configured. */
  liaisonTeam?: Reference;
  facility?: string;
}

/** Adds the restricted label (keeping other labels). */
export function restricted<T extends Resource>(resource: T): T {
  const security = (resource.meta?.security ?? []).filter((s) => !(s.system === RESTRICTED.system && s.code === RESTRICTED.code));
  return { ...resource, meta: { ...resource.meta, security: [...security, RESTRICTED] } } as T;
}

const identifier = (system: string, value: string) => ({ system, value });
export const findingKey = (f: Finding, encounterId: string) => `${encounterId}:${f.rule.finding}`;
export const caseKey = (encounterId: string, caseType: string) => `${encounterId}:${caseType}`;

export function dueTime(f: Finding, now: string): string {
  return new Date(Date.parse(now) + durationMs(f.rule.deadline.duration)).toISOString();
}

export function taskCode(action: RuleAction): Coding {
  return action === 'document'
    ? { system: LEGAL_TASK_SYSTEM, code: 'legal-documentation', display: 'Legal documentation and referral' }
    : { system: LEGAL_TASK_SYSTEM, code: 'mandatory-report', display: 'Mandatory report' };
}

const ACTION_TEXT: Record<RuleAction, string> = {
  report: 'Mandatory report',
  review: 'Possible mandatory report (liaison to confirm)',
  document: 'Document and refer (no report required)',
};

function patientLine(p: Patient): string {
  const name = p.name?.[0];
  const who = [name?.given?.join(' '), name?.family].filter(Boolean).join(' ') || name?.text || 'unknown name';
  const address = p.address?.[0];
  const where = address ? [address.line?.join(', '), address.city, address.state, address.postalCode].filter(Boolean).join(', ') : '';
  return `${who}${p.birthDate ? `, born ${p.birthDate}` : ''}${where ? `, ${where}` : ''}${p.gender ? `, ${p.gender}` : ''}`;
}

/** The report as the liaison will review it: only what the authority needs (the finding, the patient, the evidence). */
export function draftReport(f: Finding, ctx: FindingContext): string {
  const basis = f.rule.legalBasis;
  return [
    `${ACTION_TEXT[f.rule.action].toUpperCase()}: ${f.rule.title}`,
    `Legal basis: ${basis.statute}; disclosure under ${basis.hipaa}.`,
    `To: ${ctx.authority?.display ?? f.rule.authority?.display ?? 'no authority'}`,
    `From: ${ctx.facility ?? 'the emergency department'}`,
    `Patient: ${patientLine(ctx.patient)}`,
    `Seen: ${ctx.encounter.period?.start ?? ctx.now} (Encounter/${ctx.encounter.id})`,
    'Findings:',
    ...evidenceLines(f).map((l) => `- ${l}`),
    `When: ${f.rule.deadline.text}.`,
  ].join('\n');
}

function conditional(fullUrl: string, resource: Resource, search: string): BundleEntry {
  return { fullUrl, resource: restricted(resource), request: { method: 'POST', url: resource.resourceType, ifNoneExist: search } };
}

const byIdentifier = (system: string, value: string) => `identifier=${encodeURIComponent(`${system}|${value}`)}`;

export function detectedIssueOf(f: Finding, ctx: FindingContext): DetectedIssue {
  const basis = f.rule.legalBasis;
  const sources = [...new Set(f.evidence.flatMap((e) => e.items.map((i) => i.source.split(' ')[0])))];
  return {
    resourceType: 'DetectedIssue',
    meta: { profile: [LEGAL_REPORT_PROFILE] },
    identifier: [identifier(ID.finding, findingKey(f, ctx.encounter.id))],
    status: 'preliminary',
    code: { coding: [{ system: LEGAL_FINDING_SYSTEM, code: f.rule.finding, display: f.rule.title }], text: f.rule.title },
    severity: f.rule.severity,
    patient: { reference: `Patient/${ctx.patient.id}` },
    identifiedDateTime: ctx.now,
    author: { display: 'EmergiSphere legal liaison agent (automated rules)' },
    implicated: [{ reference: `Encounter/${ctx.encounter.id}` }],
    evidence: sources.map((reference) => ({ detail: [{ reference }] })),
    detail: [
      `${ACTION_TEXT[f.rule.action]}: ${f.rule.title} (rule ${f.jurisdiction}/${f.rule.id}).`,
      ...evidenceLines(f),
      `Legal basis: ${basis.statute}. HIPAA: ${basis.hipaa}: ${basis.text}`,
      f.rule.authority ? `Authority: ${ctx.authority?.display ?? f.rule.authority.display}. Deadline: ${f.rule.deadline.text}.` : '',
    ]
      .filter(Boolean)
      .join('\n'),
    reference: LEGAL_RULE_URL(f.jurisdiction, f.rule.id),
  };
}

export function flagOf(f: Finding, ctx: FindingContext): Flag {
  return {
    resourceType: 'Flag',
    identifier: [identifier(ID.flag, findingKey(f, ctx.encounter.id))],
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/flag-detail', valueReference: { reference: URNS.issue } }],
    status: 'active',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'admin', display: 'Administrative' }],
        text: 'Legal',
      },
    ],
    code: {
      coding: [{ system: LEGAL_FINDING_SYSTEM, code: f.rule.finding, display: f.rule.title }],
      text: `Restricted: ${f.rule.title}. Share nothing with visitors or family; see the legal liaison.`,
    },
    subject: { reference: `Patient/${ctx.patient.id}` },
    encounter: { reference: `Encounter/${ctx.encounter.id}` },
    period: { start: ctx.now },
    author: { display: 'EmergiSphere legal liaison agent' },
  };
}

export function caseTaskOf(f: Finding, ctx: FindingContext): Task | undefined {
  const caseType = f.rule.caseType;
  if (!caseType) return undefined;
  return {
    resourceType: 'Task',
    identifier: [identifier(ID.case, caseKey(ctx.encounter.id, caseType))],
    status: 'in-progress',
    businessStatus: { text: 'open' },
    intent: 'order',
    code: { coding: [{ system: LEGAL_TASK_SYSTEM, code: 'legal-case', display: 'Legal case' }], text: `Legal case (${caseType})` },
    reasonCode: { coding: [{ system: LEGAL_CASE_TYPE_SYSTEM, code: caseType }], text: caseType },
    description: `Legal case (${caseType}) opened for ${f.rule.title.toLowerCase()}`,
    focus: { reference: `Encounter/${ctx.encounter.id}` },
    for: { reference: `Patient/${ctx.patient.id}` },
    encounter: { reference: `Encounter/${ctx.encounter.id}` },
    authoredOn: ctx.now,
    executionPeriod: { start: ctx.now },
    ...(ctx.liaisonTeam ? { owner: ctx.liaisonTeam as Task['owner'] } : {}),
    input: [{ type: { text: PARAM.caseType }, valueCode: caseType }],
  };
}

export function reportTaskOf(f: Finding, ctx: FindingContext, caseUrn?: string): Task {
  const basis = f.rule.legalBasis;
  const due = dueTime(f, ctx.now);
  const authority = ctx.authority ?? (f.rule.authority ? { display: f.rule.authority.display } : undefined);
  return {
    resourceType: 'Task',
    identifier: [identifier(ID.report, findingKey(f, ctx.encounter.id))],
    status: 'requested',
    intent: 'order',
    priority: f.rule.action === 'document' ? 'routine' : durationMs(f.rule.deadline.duration) <= 3_600_000 ? 'stat' : 'urgent',
    code: { coding: [taskCode(f.rule.action)], text: ACTION_TEXT[f.rule.action] },
    description: `${ACTION_TEXT[f.rule.action]}: ${f.rule.title}${authority?.display ? ` to ${authority.display}` : ''}, ${f.rule.deadline.text} (${basis.statute}; HIPAA ${basis.hipaa}).`,
    focus: { reference: URNS.issue },
    for: { reference: `Patient/${ctx.patient.id}` },
    encounter: { reference: `Encounter/${ctx.encounter.id}` },
    ...(caseUrn ? { partOf: [{ reference: caseUrn }] } : {}),
    authoredOn: ctx.now,
    restriction: { period: { start: ctx.now, end: due } },
    performerType: [{ text: 'Legal liaison' }],
    ...(ctx.liaisonTeam ? { owner: ctx.liaisonTeam as Task['owner'] } : {}),
    input: [
      { type: { text: PARAM.rule }, valueString: `${f.jurisdiction}/${f.rule.id}` },
      { type: { text: PARAM.action }, valueCode: f.rule.action },
      ...(authority ? [{ type: { text: PARAM.authority }, valueReference: authority }] : []),
      { type: { text: PARAM.statute }, valueString: basis.statute },
      { type: { text: PARAM.hipaa }, valueString: basis.hipaa },
      { type: { text: PARAM.purpose }, valueCode: basis.purposeOfUse },
      { type: { text: PARAM.draft }, valueString: draftReport(f, ctx) },
      ...(f.rule.informPatient ? [{ type: { text: PARAM.informPatient }, valueString: f.rule.informPatient }] : []),
    ],
  };
}

function pageOf(f: Finding, ctx: FindingContext, team: Reference): CommunicationRequest {
  const urgent = f.rule.action !== 'document' && durationMs(f.rule.deadline.duration) <= 2 * 3_600_000;
  const due = dueTime(f, ctx.now);
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: urgent ? 'page' : 'staff-notice' }] }],
    priority: urgent ? 'stat' : f.rule.action === 'document' ? 'routine' : 'urgent',
    groupIdentifier: identifier(ID.report, findingKey(f, ctx.encounter.id)),
    subject: { reference: `Patient/${ctx.patient.id}` },
    encounter: { reference: `Encounter/${ctx.encounter.id}` },
    about: [{ reference: URNS.report }],
    recipient: [team as NonNullable<CommunicationRequest['recipient']>[number]],
    authoredOn: ctx.now,
    reasonCode: [{ text: f.rule.title }],
    payload: [
      { contentString: `${ACTION_TEXT[f.rule.action]} due by ${due}: ${f.rule.title} (${f.rule.legalBasis.statute}). See the legal task.` },
    ],
  };
}

/** Where each resource sits in the finding's transaction (and so in its response). */
export interface FindingSlots {
  issue: number;
  flag: number;
  case?: number;
  report: number;
  page?: number;
}

/** The finding's transaction: at most five conditional creates (within the server's limit of eight). */
export function findingTransaction(f: Finding, ctx: FindingContext): { entries: BundleEntry[]; slots: FindingSlots } {
  const key = findingKey(f, ctx.encounter.id);
  const caseTask = caseTaskOf(f, ctx);
  const entries: BundleEntry[] = [
    conditional(URNS.issue, detectedIssueOf(f, ctx), byIdentifier(ID.finding, key)),
    conditional(URNS.flag, flagOf(f, ctx), byIdentifier(ID.flag, key)),
  ];
  const slots: FindingSlots = { issue: 0, flag: 1, report: -1 };
  if (caseTask) {
    slots.case = entries.length;
    entries.push(conditional(URNS.case, caseTask, byIdentifier(ID.case, caseKey(ctx.encounter.id, f.rule.caseType as string))));
  }
  slots.report = entries.length;
  entries.push(conditional(URNS.report, reportTaskOf(f, ctx, caseTask ? URNS.case : undefined), byIdentifier(ID.report, key)));
  if (ctx.liaisonTeam) {
    slots.page = entries.length;
    entries.push(conditional(URNS.page, pageOf(f, ctx, ctx.liaisonTeam), `group-identifier=${encodeURIComponent(`${ID.report}|${key}`)}`));
  }
  return { entries, slots };
}

/** Reads an input or output of a Task by its name. */
export function param<T extends { type: { text?: string } }>(items: T[] | undefined, name: string): T | undefined {
  return items?.find((i) => i.type.text === name);
}
