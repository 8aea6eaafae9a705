/**
 * Mandatory-reporting rules: data per jurisdiction in server-config/legal/<jurisdiction>.json.
 * A state file `extends` the default file; its rules replace the default rule of the same
 * finding, and a rule with `basedOn` takes the named rule's triggers and changes only what the
 * state's law says. Every rule cites its statute and its HIPAA paragraph (45 CFR 164.512).
 * The files are bundled into the bot (a bot cannot read files); adding a state is one JSON file
 * and one line in RULE_FILES.
 */
import defaultRules from '../../server-config/legal/default.json' with { type: 'json' };
import usCa from '../../server-config/legal/US-CA.json' with { type: 'json' };
import usNy from '../../server-config/legal/US-NY.json' with { type: 'json' };
import { defaultComplaints } from '../triage/complaints.ts';

export const FINDING_TYPES = [
  'gunshot-wound',
  'stab-wound',
  'child-abuse',
  'elder-abuse',
  'domestic-violence',
  'sexual-assault',
  'assault',
  'impaired-driving',
  'animal-bite',
  'communicable-disease',
] as const;
export type FindingType = (typeof FINDING_TYPES)[number];

/** `report`: the law requires it; `review`: the liaison decides whether it applies; `document`: no report, document and refer. */
export type RuleAction = 'report' | 'review' | 'document';
export const CASE_TYPES = ['crime', 'accident', 'domestic-violence', 'abuse'] as const;
export type CaseType = (typeof CASE_TYPES)[number];
export type PurposeOfUse = 'PUBHLTH' | 'THREAT' | 'HLEGAL';

export interface CodeCriterion {
  system: string;
  /** Exact codes. */
  codes?: string[];
  /** Code prefixes, compared without dots ("T74" matches "T74.12XA"). */
  prefixes?: string[];
}

export interface LabCriterion {
  system: string;
  codes: string[];
  /** A positive or detected result (interpretation or coded value). */
  positive?: boolean;
  /** At least one of these values (in its unit). */
  minValue?: { value: number; unit: string }[];
}

/** One thing to look for; any of its signals is enough. */
export interface Criterion {
  label: string;
  /** Phrases in the complaint or diagnosis text (normalised as triage normalises complaints; negation-aware). */
  keywords?: string[];
  /** Complaint ids of the triage complaint table (server-config/triage/complaints.json). */
  complaints?: string[];
  conditions?: CodeCriterion[];
  labs?: LabCriterion[];
  /** Suspected perpetrator relationships (ids of the rule set's `relationships`). */
  relationships?: string[];
}

export interface Relationship {
  id: string;
  display: string;
  keywords: string[];
  /** ICD-10-CM perpetrator codes (Y07.-). */
  icd10?: string[];
}

export interface LegalBasis {
  statute: string;
  /** The HIPAA paragraph that permits the disclosure, e.g. "45 CFR 164.512(f)(1)(i)". */
  hipaa: string;
  purposeOfUse: PurposeOfUse;
  text: string;
}

export interface LegalRule {
  id: string;
  /** A rule of the extended file whose fields this one starts from. */
  basedOn?: string;
  finding: FindingType;
  title: string;
  action: RuleAction;
  severity: 'high' | 'moderate' | 'low';
  caseType?: CaseType;
  /** Findings this one makes redundant in the same encounter (e.g. a gunshot wound is also an assault). */
  supersedes?: FindingType[];
  age?: { min?: number; max?: number };
  /** Any of the alternatives; within one, every criterion. */
  triggers: { all: Criterion[] }[];
  authority?: { type: string; display: string };
  deadline: { duration: string; text: string };
  legalBasis: LegalBasis;
  /** 45 CFR 164.512(c)(2) and similar: what to tell the patient. */
  informPatient?: string;
}

export interface RuleFile {
  jurisdiction: string;
  name: string;
  version: string;
  extends?: string;
  description?: string;
  relationships?: Relationship[];
  rules: (Partial<LegalRule> & { id: string })[];
}

/** A jurisdiction's effective rules, inheritance resolved. */
export interface RuleSet {
  jurisdiction: string;
  name: string;
  version: string;
  relationships: Relationship[];
  rules: LegalRule[];
}

export const RULE_FILES: RuleFile[] = [defaultRules as RuleFile, usCa as RuleFile, usNy as RuleFile];

const DURATION_RE = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/;
const HIPAA_RE = /^45 CFR 164\.512\([a-l]\)(\(\d+\))?(\([ivx]+\))?$/;

/** Milliseconds of an ISO 8601 duration of days, hours and minutes (what deadlines use). */
export function durationMs(duration: string): number {
  const m = DURATION_RE.exec(duration);
  if (!m || duration === 'P' || duration.endsWith('T')) throw new Error(`"${duration}" is not a duration like PT1H or P1D`);
  const [, d, h, min] = m.map((x) => Number(x ?? 0));
  return ((d * 24 + h) * 60 + min) * 60_000;
}

function problemsOf(rule: LegalRule, relationships: Set<string>): string[] {
  const problems: string[] = [];
  const where = `rule ${rule.id}`;
  const complaints = defaultComplaints().entries;
  if (!FINDING_TYPES.includes(rule.finding)) problems.push(`${where}: unknown finding "${rule.finding}"`);
  if (!rule.title) problems.push(`${where}: no title`);
  if (!['report', 'review', 'document'].includes(rule.action)) problems.push(`${where}: action must be report, review or document`);
  if (!['high', 'moderate', 'low'].includes(rule.severity)) problems.push(`${where}: severity must be high, moderate or low`);
  if (rule.caseType && !CASE_TYPES.includes(rule.caseType)) problems.push(`${where}: unknown case type "${rule.caseType}"`);
  for (const f of rule.supersedes ?? []) if (!FINDING_TYPES.includes(f)) problems.push(`${where}: supersedes unknown finding "${f}"`);
  if (rule.action !== 'document' && !rule.authority?.display) problems.push(`${where}: a ${rule.action} rule needs an authority`);
  if (!rule.legalBasis?.statute) problems.push(`${where}: no statute cited`);
  if (!HIPAA_RE.test(rule.legalBasis?.hipaa ?? ''))
    problems.push(`${where}: HIPAA basis "${rule.legalBasis?.hipaa}" is not a 45 CFR 164.512 paragraph`);
  if (!['PUBHLTH', 'THREAT', 'HLEGAL'].includes(rule.legalBasis?.purposeOfUse)) problems.push(`${where}: unknown purpose of use`);
  try {
    durationMs(rule.deadline?.duration ?? '');
  } catch (err) {
    problems.push(`${where}: deadline ${(err as Error).message}`);
  }
  if (!rule.triggers?.length) problems.push(`${where}: no triggers`);
  for (const t of rule.triggers ?? []) {
    if (!t.all?.length) problems.push(`${where}: a trigger with no criteria`);
    for (const c of t.all ?? []) {
      if (!c.label) problems.push(`${where}: a criterion without label`);
      if (!c.keywords?.length && !c.complaints?.length && !c.conditions?.length && !c.labs?.length && !c.relationships?.length) {
        problems.push(`${where}: criterion "${c.label}" looks for nothing`);
      }
      for (const id of c.complaints ?? []) if (!complaints.has(id)) problems.push(`${where}: unknown triage complaint "${id}"`);
      for (const id of c.relationships ?? []) if (!relationships.has(id)) problems.push(`${where}: unknown relationship "${id}"`);
      for (const cc of c.conditions ?? [])
        if (!cc.codes?.length && !cc.prefixes?.length) problems.push(`${where}: a code criterion without codes`);
    }
  }
  return problems;
}

/** The effective rules of `jurisdiction` among `files`; throws naming every problem. */
export function resolveRuleSet(jurisdiction: string, files: RuleFile[] = RULE_FILES, seen: string[] = []): RuleSet {
  const file = files.find((f) => f.jurisdiction === jurisdiction);
  if (!file) throw new Error(`No legal rules for jurisdiction "${jurisdiction}"`);
  if (seen.includes(jurisdiction))
    throw new Error(`Legal rules: "${jurisdiction}" extends itself (${[...seen, jurisdiction].join(' → ')})`);
  const parent = file.extends ? resolveRuleSet(file.extends, files, [...seen, jurisdiction]) : undefined;
  const relationships = [...(parent?.relationships ?? [])];
  for (const r of file.relationships ?? []) {
    const i = relationships.findIndex((x) => x.id === r.id);
    if (i >= 0) relationships[i] = r;
    else relationships.push(r);
  }
  const problems: string[] = [];
  const own: LegalRule[] = file.rules.map((partial) => {
    const base = partial.basedOn ? parent?.rules.find((r) => r.id === partial.basedOn) : undefined;
    if (partial.basedOn && !base) problems.push(`rule ${partial.id}: basedOn unknown rule "${partial.basedOn}"`);
    return { ...base, ...partial } as LegalRule;
  });
  const ids = new Set<string>();
  const relationshipIds = new Set(relationships.map((r) => r.id));
  for (const rule of own) {
    if (ids.has(rule.id)) problems.push(`duplicate rule id ${rule.id}`);
    ids.add(rule.id);
    problems.push(...problemsOf(rule, relationshipIds));
  }
  const findings = new Set(own.map((r) => r.finding));
  if (findings.size !== own.length) problems.push('two rules of one file have the same finding');
  if (problems.length > 0) throw new Error(`legal rules ${jurisdiction} ${file.version}: ${problems.join('; ')}`);
  // A state's rule replaces the inherited rule of the same finding.
  const inherited = (parent?.rules ?? []).filter((r) => !findings.has(r.finding));
  return { jurisdiction, name: file.name, version: file.version, relationships, rules: [...own, ...inherited] };
}

export const DEFAULT_JURISDICTION = 'default';

export function availableJurisdictions(files: RuleFile[] = RULE_FILES): string[] {
  return files.map((f) => f.jurisdiction);
}
