/**
 * The drug table (drug-classes.json) compiled for recognising ingredients and classes in a
 * CodeableConcept: RxNorm and SNOMED CT codes first, then names on word boundaries (longest name
 * first, so "penicillin G" is the drug and a bare "penicillin" the class). Pure.
 */
import type { CodeableConcept } from '@medplum/fhirtypes';
import tableJson from './drug-classes.json' with { type: 'json' };

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const SNOMED = 'http://snomed.info/sct';

export interface DrugEntry {
  id: string;
  display: string;
  rxnorm?: string[];
  snomed?: string[];
  names: string[];
  /** Therapeutic classes of a single ingredient. */
  classes?: string[];
  /** A combination product: its ingredients (ids of other entries). */
  ingredients?: string[];
}

export interface CrossReactivity {
  class: string;
  severity: 'low' | 'moderate' | 'high';
  note: string;
}

export interface DrugClass {
  id: string;
  display: string;
  names: string[];
  snomed?: string[];
  intraClassCrossReactivity: boolean;
  duplicateTherapy: boolean;
  crossReactivity?: CrossReactivity[];
}

export interface DrugTable {
  version: string;
  description?: string;
  drugs: DrugEntry[];
  classes: DrugClass[];
}

/** What a concept names: single ingredients (combinations expanded) and classes named as such. */
export interface Identified {
  /** Ingredient ids. */
  ingredients: string[];
  /** Classes the concept names directly ("penicillins", "sulfa"). */
  classes: string[];
  /** How it was recognised, for rationales: "RxNorm 723", "name \"augmentin\"". */
  via: string[];
}

export interface CompiledDrugTable {
  table: DrugTable;
  drug(id: string): DrugEntry | undefined;
  drugClass(id: string): DrugClass | undefined;
  /** The classes of an ingredient. */
  classesOf(ingredient: string): string[];
  identify(concept: CodeableConcept | undefined): Identified;
}

type Target = { kind: 'drug' | 'class'; id: string };

/** Lower case, anything but letters and digits is a space: "Co-Amoxiclav 625mg" → "co amoxiclav 625mg". */
export function normalizeName(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/** Throws with every problem, so a bad edit fails at load (and in the unit tests), not at the bedside. */
export function validateDrugTable(table: DrugTable): void {
  const problems: string[] = [];
  const drugIds = new Set<string>();
  const classIds = new Set(table.classes.map((c) => c.id));
  const names = new Map<string, string>();
  const claim = (name: string, owner: string) => {
    const key = normalizeName(name);
    if (!key) problems.push(`${owner}: empty name "${name}"`);
    const previous = names.get(key);
    if (previous && previous !== owner) problems.push(`name "${name}" belongs to both ${previous} and ${owner}`);
    names.set(key, owner);
  };
  for (const d of table.drugs) {
    if (drugIds.has(d.id)) problems.push(`duplicate drug ${d.id}`);
    drugIds.add(d.id);
  }
  for (const d of table.drugs) {
    for (const c of d.classes ?? []) if (!classIds.has(c)) problems.push(`${d.id}: unknown class ${c}`);
    for (const i of d.ingredients ?? []) {
      const ingredient = table.drugs.find((x) => x.id === i);
      if (!ingredient) problems.push(`${d.id}: unknown ingredient ${i}`);
      else if (ingredient.ingredients?.length) problems.push(`${d.id}: ingredient ${i} is itself a combination`);
    }
    if (!d.classes && !d.ingredients) problems.push(`${d.id}: needs classes (an ingredient) or ingredients (a combination)`);
    for (const code of d.rxnorm ?? []) if (!/^\d{1,8}$/.test(code)) problems.push(`${d.id}: RxNorm ${code} is not an RXCUI`);
    for (const code of d.snomed ?? []) if (!/^\d{6,18}$/.test(code)) problems.push(`${d.id}: SNOMED ${code} is not an SCTID`);
    for (const n of d.names) claim(n, `drug ${d.id}`);
  }
  for (const c of table.classes) {
    for (const n of c.names) claim(n, `class ${c.id}`);
    for (const x of c.crossReactivity ?? [])
      if (!classIds.has(x.class)) problems.push(`${c.id}: cross-reactivity with unknown class ${x.class}`);
  }
  if (problems.length > 0) throw new Error(`drug table ${table.version}: ${problems.join('; ')}`);
}

export function compileDrugTable(table: DrugTable): CompiledDrugTable {
  validateDrugTable(table);
  const drugs = new Map(table.drugs.map((d) => [d.id, d]));
  const classes = new Map(table.classes.map((c) => [c.id, c]));
  const byCode = new Map<string, Target>();
  for (const d of table.drugs) {
    for (const code of d.rxnorm ?? []) byCode.set(`${RXNORM}|${code}`, { kind: 'drug', id: d.id });
    for (const code of d.snomed ?? []) byCode.set(`${SNOMED}|${code}`, { kind: 'drug', id: d.id });
  }
  for (const c of table.classes) for (const code of c.snomed ?? []) byCode.set(`${SNOMED}|${code}`, { kind: 'class', id: c.id });
  // Names indexed by their first word; each list longest first.
  const byFirstWord = new Map<string, { words: string[]; target: Target; name: string }[]>();
  const addName = (name: string, target: Target) => {
    const words = normalizeName(name).split(' ');
    const list = byFirstWord.get(words[0]) ?? [];
    list.push({ words, target, name });
    list.sort((a, b) => b.words.length - a.words.length);
    byFirstWord.set(words[0], list);
  };
  for (const d of table.drugs) for (const n of d.names) addName(n, { kind: 'drug', id: d.id });
  for (const c of table.classes) for (const n of c.names) addName(n, { kind: 'class', id: c.id });

  const expand = (drugId: string): string[] => {
    const d = drugs.get(drugId);
    return d?.ingredients?.length ? [...d.ingredients] : [drugId];
  };

  const identify = (concept: CodeableConcept | undefined): Identified => {
    const ingredients = new Set<string>();
    const named = new Set<string>();
    const via: string[] = [];
    const take = (target: Target, how: string) => {
      if (target.kind === 'drug') for (const i of expand(target.id)) ingredients.add(i);
      else named.add(target.id);
      via.push(how);
    };
    for (const coding of concept?.coding ?? []) {
      const target = byCode.get(`${coding.system}|${coding.code}`);
      if (target) take(target, `${coding.system === RXNORM ? 'RxNorm' : 'SNOMED CT'} ${coding.code}`);
    }
    if (ingredients.size === 0 && named.size === 0) {
      const texts = [concept?.text, ...(concept?.coding ?? []).map((c) => c.display)].filter((t): t is string => !!t);
      for (const text of texts) {
        const words = normalizeName(text).split(' ');
        for (let i = 0; i < words.length; i++) {
          const hit = (byFirstWord.get(words[i]) ?? []).find((n) => n.words.every((w, k) => words[i + k] === w));
          if (hit) {
            take(hit.target, `name "${hit.name}"`);
            i += hit.words.length - 1;
          }
        }
      }
    }
    return { ingredients: [...ingredients], classes: [...named], via: [...new Set(via)] };
  };

  return {
    table,
    drug: (id) => drugs.get(id),
    drugClass: (id) => classes.get(id),
    classesOf: (ingredient) => drugs.get(ingredient)?.classes ?? [],
    identify,
  };
}

let shipped: CompiledDrugTable | undefined;

/** The table shipped beside this module, compiled once. */
export function defaultDrugTable(): CompiledDrugTable {
  shipped ??= compileDrugTable(tableJson as DrugTable);
  return shipped;
}
