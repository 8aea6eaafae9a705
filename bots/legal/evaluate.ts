/**
 * Decides which mandatory-report rules an encounter meets. Pure: rule set and case facts in,
 * findings with their evidence out. A rule fires when one of its triggers has every criterion
 * met (and the age fits); a finding that another fired finding supersedes (an assault that is
 * also a gunshot wound) is dropped, so the liaison gets one task per thing to report.
 */
import { defaultComplaints, type NormalizedToken } from '../triage/complaints.ts';
import type { CaseFacts, CodeFact, LabFact } from './facts.ts';
import type { CodeCriterion, Criterion, LabCriterion, LegalRule, RuleSet } from './rules.ts';

export interface EvidenceItem {
  /** The resource (and element) it was found in. */
  source: string;
  what: string;
}

export interface CriterionEvidence {
  label: string;
  items: EvidenceItem[];
}

export interface Finding {
  rule: LegalRule;
  jurisdiction: string;
  evidence: CriterionEvidence[];
}

export interface Evaluation {
  findings: Finding[];
  /** Findings dropped because a more specific one covers them. */
  superseded: { finding: string; by: string }[];
  /** Rules not evaluated and why (e.g. age unknown). */
  notes: string[];
}

const phraseCache = new Map<string, string[]>();

/** A keyword as the words triage normalisation makes of it. */
function phrase(keyword: string): string[] {
  let words = phraseCache.get(keyword);
  if (!words) {
    words = defaultComplaints()
      .normalize(keyword)
      .tokens.map((t) => t.word);
    phraseCache.set(keyword, words);
  }
  return words;
}

/** Where the phrase occurs in the tokens, not negated ("denies being shot" does not count). */
function phraseAt(tokens: NormalizedToken[], words: string[]): boolean {
  if (words.length === 0) return false;
  for (let i = 0; i + words.length <= tokens.length; i++) {
    if (tokens[i].negatedBy >= 0) continue;
    if (words.every((w, k) => tokens[i + k].word === w)) return true;
  }
  return false;
}

const undotted = (code: string) => code.replace(/\./g, '').toUpperCase();

function codeMatches(fact: CodeFact, c: CodeCriterion): boolean {
  if (fact.system !== c.system) return false;
  if (c.codes?.includes(fact.code)) return true;
  const code = undotted(fact.code);
  return !!c.prefixes?.some((p) => code.startsWith(undotted(p)));
}

const UNIT_ALIASES: Record<string, string> = { 'mg/dl': 'mg/dL', 'g/l': 'g/L', 'g/dl': 'g/dL', 'mmol/l': 'mmol/L' };

function labMatches(fact: LabFact, c: LabCriterion): boolean {
  if (fact.system !== c.system || !c.codes.includes(fact.code)) return false;
  if (c.positive && fact.positive) return true;
  if (c.minValue && fact.value) {
    const unit = UNIT_ALIASES[fact.value.unit.toLowerCase()] ?? fact.value.unit;
    return c.minValue.some((m) => m.unit === unit && (fact.value?.value ?? Number.NEGATIVE_INFINITY) >= m.value);
  }
  return false;
}

function keywordEvidence(facts: CaseFacts, keywords: string[], label: string): EvidenceItem[] {
  const items: EvidenceItem[] = [];
  for (const t of facts.texts) {
    const hit = keywords.find((k) => phraseAt(t.tokens, phrase(k)));
    if (hit) items.push({ source: t.source, what: `${label} "${hit}" in "${t.text}"` });
  }
  return items;
}

function relationshipEvidence(facts: CaseFacts, set: RuleSet, ids: string[]): EvidenceItem[] {
  const items: EvidenceItem[] = [];
  for (const id of ids) {
    const rel = set.relationships.find((r) => r.id === id);
    if (!rel) continue;
    items.push(...keywordEvidence(facts, rel.keywords, `suspected perpetrator: ${rel.display},`));
    for (const c of facts.conditions) {
      if (codeMatches(c, { system: 'http://hl7.org/fhir/sid/icd-10-cm', prefixes: rel.icd10 ?? [] })) {
        items.push({ source: c.source, what: `suspected perpetrator: ${rel.display}, ICD-10-CM ${c.code}` });
      }
    }
  }
  return items;
}

/** The evidence for one criterion; empty when it is not met. */
export function criterionEvidence(c: Criterion, facts: CaseFacts, set: RuleSet): EvidenceItem[] {
  const items: EvidenceItem[] = [];
  for (const m of facts.complaints) {
    if (c.complaints?.includes(m.id)) items.push({ source: m.source, what: `triage complaint ${m.id} ("${m.matched}")` });
  }
  if (c.keywords?.length) items.push(...keywordEvidence(facts, c.keywords, 'keyword'));
  for (const f of facts.conditions) {
    if (c.conditions?.some((cc) => codeMatches(f, cc)))
      items.push({ source: f.source, what: `diagnosis ${f.code}${f.display ? ` ${f.display}` : ''}` });
  }
  for (const f of facts.labs) {
    if (c.labs?.some((lc) => labMatches(f, lc))) {
      const value = f.value ? ` = ${f.value.value} ${f.value.unit}` : f.positive ? ' positive' : '';
      items.push({ source: f.source, what: `lab ${f.code}${f.display ? ` ${f.display}` : ''}${value}` });
    }
  }
  if (c.relationships?.length) items.push(...relationshipEvidence(facts, set, c.relationships));
  // One line per source and statement.
  return items.filter((x, i) => items.findIndex((y) => y.source === x.source && y.what === x.what) === i);
}

function ageFits(rule: LegalRule, age: number | undefined): boolean | undefined {
  if (!rule.age) return true;
  if (age === undefined) return undefined;
  return (rule.age.min === undefined || age >= rule.age.min) && (rule.age.max === undefined || age < rule.age.max + 1);
}

export function evaluate(set: RuleSet, facts: CaseFacts): Evaluation {
  const fired: Finding[] = [];
  const notes: string[] = [];
  for (const rule of set.rules) {
    const age = ageFits(rule, facts.ageYears);
    if (age === false) continue;
    for (const trigger of rule.triggers) {
      const evidence = trigger.all.map((c) => ({ label: c.label, items: criterionEvidence(c, facts, set) }));
      if (evidence.every((e) => e.items.length > 0)) {
        if (age === undefined) {
          notes.push(`${rule.id} (${rule.title}): its signs are present but the patient's age is unknown; review by hand.`);
        } else {
          fired.push({ rule, jurisdiction: set.jurisdiction, evidence });
        }
        break;
      }
    }
  }
  const superseded: Evaluation['superseded'] = [];
  const findings = fired.filter((f) => {
    const by = fired.find((o) => o !== f && o.rule.supersedes?.includes(f.rule.finding));
    if (by) superseded.push({ finding: f.rule.finding, by: by.rule.finding });
    return !by;
  });
  return { findings, superseded, notes };
}

/** The evidence as lines, for the DetectedIssue's detail and the rationale. */
export function evidenceLines(f: Finding): string[] {
  return f.evidence.map((e) => `${e.label}: ${e.items.map((i) => `${i.what} [${i.source}]`).join('; ')}`);
}
