/**
 * The chief-complaint table (server-config/triage/complaints.json) compiled for matching free text.
 *
 * Normalisation, in order: lower case; hyphens to spaces; split into clauses at punctuation (a
 * period after a known abbreviation such as "ant." or "abd." is not a clause end); expand
 * abbreviations ("SOB", "n/v", "s/p") and canonical word forms ("hurts" → "pain", misspellings);
 * strip plurals; correct one-letter typos against the table's own vocabulary; drop filler words.
 * Negation ("denies CP", "no LOC") covers the rest of its clause (at most six words), as NegEx does.
 * The same normalisation is applied to the table's synonyms, so they can be written naturally.
 */
import tableJson from '../../server-config/triage/complaints.json' with { type: 'json' };

export interface ComplaintCondition {
  minAgeYears?: number;
  maxAgeYears?: number;
  maxAgeDays?: number;
  sex?: 'male' | 'female';
  /** Any of these modifiers (e.g. "pregnant", "anticoagulated") found in the text or the input. */
  modifiers?: string[];
  /** Danger-zone or otherwise abnormal vital signs (see esi.ts). */
  abnormalVitals?: boolean;
  /** Temperature ≥ 38.0 °C or a fever complaint. */
  fever?: boolean;
}

export interface Criterion {
  reason: string;
  /** All given conditions must hold; none = always. */
  when?: ComplaintCondition;
}

export interface CodeRef {
  code: string;
  display: string;
}

export interface ComplaintEntry {
  id: string;
  display: string;
  snomed?: CodeRef;
  synonyms: string[];
  sex?: 'male' | 'female';
  ageYears?: { min?: number; max?: number };
  /** ESI decision point A criteria. */
  immediate?: Criterion[];
  /** ESI decision point B high-risk criteria. */
  highRisk?: Criterion[];
  /** Expected interventions/tests (keys of `items`, or resource type ids). */
  items: string[];
  /** Replaces `items` under 18 years. */
  pediatricItems?: string[];
  /** Severe pain from this complaint alone does not make ESI 2 (a sprain at 8/10 is not high acuity). */
  minorPain?: boolean;
  /** An obvious source of fever (pediatric fever rule, 3 months – 3 years). */
  feverSource?: boolean;
  /** Suggests infection (qSOFA applies: sepsis signs). */
  infection?: boolean;
}

export interface ModifierEntry {
  id: string;
  display: string;
  snomed?: CodeRef;
  terms: string[];
}

export interface ResourceTypeEntry {
  display: string;
  /** ESI counts a complex procedure as two resources. */
  counts: number;
}

export interface ItemEntry {
  /** The ESI resource type, or null when ESI does not count it as a resource. */
  resource: string | null;
  display: string;
  why?: string;
}

export interface ComplaintTable {
  version: string;
  description?: string;
  resourceTypes: Record<string, ResourceTypeEntry>;
  items: Record<string, ItemEntry>;
  abbreviations: Record<string, string>;
  wordForms: Record<string, string>;
  stopWords: string[];
  negations: string[];
  clauseBreaks: string[];
  modifiers: ModifierEntry[];
  complaints: ComplaintEntry[];
}

export interface NormalizedToken {
  word: string;
  /** Index (in the token list) of the negation cue governing this token, or -1. */
  negatedBy: number;
}

export interface Normalized {
  tokens: NormalizedToken[];
  /** The normalised text, for display. */
  text: string;
  corrections: { from: string; to: string }[];
}

export interface ComplaintMatch {
  entry: ComplaintEntry;
  /** The table synonym that matched, and the normalised words it matched. */
  synonym: string;
  matched: string;
  /** False when the entry's sex/age applicability excludes this patient (kept for safety, flagged). */
  applicable: boolean;
  notApplicable?: string;
}

export interface ComplaintMatchResult {
  normalized: string;
  matches: ComplaintMatch[];
  /** Modifier ids found (not negated). */
  modifiers: string[];
  /** Phrases that matched a complaint or modifier but were negated ("denies chest pain"). */
  negated: string[];
  corrections: { from: string; to: string }[];
}

export interface MatchContext {
  ageYears?: number;
  sex?: string;
}

/** Negation scope, in words after the cue (NegEx uses five to six). */
const NEGATION_WINDOW = 6;
const WORD_CACHE_SIZE = 20_000;
/** Typos are corrected only in words this long: short words are too often legitimate. */
const MIN_FUZZY_LENGTH = 6;

interface Phrase {
  words: string[];
  kind: 'complaint' | 'modifier';
  id: string;
  synonym: string;
}

export interface CompiledComplaints {
  table: ComplaintTable;
  entries: Map<string, ComplaintEntry>;
  modifiers: Map<string, ModifierEntry>;
  normalize(text: string): Normalized;
  match(text: string, context?: MatchContext): ComplaintMatchResult;
}

/** Light stemming applied alike to text and table: plural and third-person "s". */
function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !/(ss|us|is)$/.test(word) && !/\d/.test(word)) return word.slice(0, -1);
  return word;
}

/** Optimal string alignment distance, capped: true when a and b differ by one edit or one swap. */
function withinOneEdit(a: string, b: string): boolean {
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true; // substitution
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2); // transposition
  }
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

function deletions(word: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < word.length; i++) out.push(word.slice(0, i) + word.slice(i + 1));
  return out;
}

/** Throws with every problem found, so a bad edit to the table fails loudly at load, not at triage. */
export function validateComplaintTable(table: ComplaintTable): void {
  const problems: string[] = [];
  const modifierIds = new Set(table.modifiers.map((m) => m.id));
  const ids = new Set<string>();
  for (const [type, rt] of Object.entries(table.resourceTypes)) {
    if (rt.counts !== 1 && rt.counts !== 2) problems.push(`resource type ${type}: counts must be 1 or 2`);
  }
  for (const [key, item] of Object.entries(table.items)) {
    if (item.resource !== null && !table.resourceTypes[item.resource]) problems.push(`item ${key}: unknown resource type ${item.resource}`);
    if (item.resource === null && !item.why) problems.push(`item ${key}: a non-resource needs "why"`);
  }
  const checkConditions = (where: string, criteria: Criterion[] | undefined) => {
    for (const c of criteria ?? []) {
      if (!c.reason) problems.push(`${where}: criterion without reason`);
      for (const m of c.when?.modifiers ?? []) if (!modifierIds.has(m)) problems.push(`${where}: unknown modifier ${m}`);
    }
  };
  for (const entry of table.complaints) {
    if (ids.has(entry.id)) problems.push(`duplicate complaint id ${entry.id}`);
    ids.add(entry.id);
    if (!entry.display) problems.push(`${entry.id}: no display`);
    if (!entry.synonyms?.length) problems.push(`${entry.id}: no synonyms`);
    if (entry.snomed && !/^\d{6,18}$/.test(entry.snomed.code))
      problems.push(`${entry.id}: SNOMED code ${entry.snomed.code} is not an SCTID`);
    for (const item of [...entry.items, ...(entry.pediatricItems ?? [])]) {
      if (!table.items[item] && !table.resourceTypes[item]) problems.push(`${entry.id}: unknown item ${item}`);
    }
    checkConditions(entry.id, entry.immediate);
    checkConditions(entry.id, entry.highRisk);
  }
  if (problems.length > 0) throw new Error(`complaint table ${table.version}: ${problems.join('; ')}`);
}

export function compileComplaintTable(table: ComplaintTable): CompiledComplaints {
  validateComplaintTable(table);
  const replacements = new Map<string, string[]>();
  for (const [k, v] of Object.entries(table.wordForms)) replacements.set(k, v.split(/\s+/));
  // Abbreviations win over word forms for the same key.
  for (const [k, v] of Object.entries(table.abbreviations)) replacements.set(k, v.split(/\s+/));
  // Words are compared after stemming ("denies" → "deny"), so the lists are stemmed too.
  const stemmedSet = (words: string[]) => new Set(words.flatMap((w) => [w, stem(w)]));
  const stopWords = stemmedSet(table.stopWords);
  const negations = stemmedSet(table.negations);
  const clauseBreaks = stemmedSet(table.clauseBreaks);
  const vocabulary = new Set<string>();
  // Words recur across complaints; remembering their canonical form saves the typo search.
  const wordCache = new Map<string, { words: string[]; correction?: { from: string; to: string } }>();
  const byDeletion = new Map<string, string[]>();

  // `fuzzy` is off while the table itself is being normalised: the vocabulary is being built.
  const normalize = (text: string, fuzzy: boolean): Normalized => {
    const corrections: { from: string; to: string }[] = [];
    const words: string[] = [];
    const breaks = new Set<number>(); // a clause ends before words[i]
    const emit = (word: string) => {
      if (clauseBreaks.has(word)) {
        breaks.add(words.length);
        return;
      }
      if (!stopWords.has(word)) words.push(word);
    };
    const canonical = (raw: string): string[] => {
      const cached = fuzzy ? wordCache.get(raw) : undefined;
      if (cached) {
        if (cached.correction) corrections.push(cached.correction);
        return cached.words;
      }
      const words = canonicalUncached(raw);
      if (fuzzy) {
        if (wordCache.size >= WORD_CACHE_SIZE) wordCache.clear();
        const last = corrections[corrections.length - 1];
        wordCache.set(raw, { words, correction: last?.from === raw ? last : undefined });
      }
      return words;
    };
    const canonicalUncached = (raw: string): string[] => {
      const direct = replacements.get(raw);
      if (direct) return direct;
      const stemmed = stem(raw);
      const viaStem = replacements.get(stemmed);
      if (viaStem) return viaStem;
      if (!fuzzy || vocabulary.has(stemmed) || stemmed.length < MIN_FUZZY_LENGTH || /[^a-z]/.test(stemmed)) return [stemmed];
      const corrected = correct(stemmed);
      if (corrected) {
        corrections.push({ from: raw, to: corrected });
        return [corrected];
      }
      return [stemmed];
    };
    const lowered = text
      .toLowerCase()
      .replace(/[‘’`´]/g, "'")
      .replace(/[-_–—]/g, ' ')
      .replace(/&/g, ' and ');
    for (const part of lowered.split(/(\s+|[,;:!?()[\]{}"|<>*]+)/)) {
      if (!part || /^\s+$/.test(part)) continue;
      if (/^[,;:!?()[\]{}"|<>*]+$/.test(part)) {
        breaks.add(words.length);
        continue;
      }
      let word = part.replace(/'/g, '').replace(/^[^a-z0-9]+/, '');
      let endsSentence = false;
      if (word.endsWith('.')) {
        word = word.replace(/\.+$/, '');
        endsSentence = !replacements.has(word);
      }
      word = word.replace(/[^a-z0-9/%]+$/, '');
      if (word) {
        if (replacements.has(word) || !word.includes('/')) {
          for (const w of canonical(word)) emit(w);
        } else {
          for (const piece of word.split('/').filter(Boolean)) for (const w of canonical(piece)) emit(w);
        }
      }
      if (endsSentence) breaks.add(words.length);
    }
    const tokens: NormalizedToken[] = words.map((word) => ({ word, negatedBy: -1 }));
    let cue = -1;
    let left = 0;
    for (let i = 0; i < tokens.length; i++) {
      if (breaks.has(i)) cue = -1;
      if (cue >= 0 && left > 0) {
        tokens[i].negatedBy = cue;
        left--;
      }
      if (negations.has(tokens[i].word)) {
        cue = i;
        left = NEGATION_WINDOW;
      }
    }
    return { tokens, text: words.join(' '), corrections };
  };

  const correct = (word: string): string | undefined => {
    const candidates = new Set<string>();
    for (const key of [word, ...deletions(word)]) for (const c of byDeletion.get(key) ?? []) candidates.add(c);
    const fits = [...candidates].filter((c) => withinOneEdit(word, c)).sort();
    return fits[0];
  };

  const phrases = new Map<string, Phrase[]>();
  const addPhrase = (synonym: string, kind: Phrase['kind'], id: string) => {
    const words = normalize(synonym, false).tokens.map((t) => t.word);
    if (words.length === 0) throw new Error(`complaint table: "${synonym}" (${id}) normalises to nothing`);
    for (const w of words) vocabulary.add(w);
    const list = phrases.get(words[0]) ?? [];
    if (!list.some((p) => p.kind === kind && p.id === id && p.words.join(' ') === words.join(' '))) {
      list.push({ words, kind, id, synonym });
    }
    phrases.set(words[0], list);
  };
  const entries = new Map(table.complaints.map((e) => [e.id, e]));
  const modifiers = new Map(table.modifiers.map((m) => [m.id, m]));
  for (const entry of table.complaints) for (const s of entry.synonyms) addPhrase(s, 'complaint', entry.id);
  for (const m of table.modifiers) for (const t of m.terms) addPhrase(t, 'modifier', m.id);
  // Two complaints sharing a synonym would make the match ambiguous.
  const owner = new Map<string, string>();
  for (const list of phrases.values()) {
    for (const p of list.filter((x) => x.kind === 'complaint')) {
      const key = p.words.join(' ');
      const previous = owner.get(key);
      if (previous && previous !== p.id) throw new Error(`complaint table: "${p.synonym}" belongs to both ${previous} and ${p.id}`);
      owner.set(key, p.id);
    }
  }
  for (const list of phrases.values()) list.sort((a, b) => b.words.length - a.words.length);
  for (const w of vocabulary) {
    if (w.length < MIN_FUZZY_LENGTH - 1 || /[^a-z]/.test(w)) continue;
    for (const key of [w, ...deletions(w)]) {
      const list = byDeletion.get(key) ?? [];
      list.push(w);
      byDeletion.set(key, list);
    }
  }

  const match = (text: string, context: MatchContext = {}): ComplaintMatchResult => {
    const norm = normalize(text, true);
    const { tokens } = norm;
    interface Hit {
      phrase: Phrase;
      start: number;
      end: number;
      negated: boolean;
    }
    const hits: Hit[] = [];
    for (let i = 0; i < tokens.length; i++) {
      for (const phrase of phrases.get(tokens[i].word) ?? []) {
        const end = i + phrase.words.length;
        if (end > tokens.length) continue;
        let ok = true;
        for (let k = 1; k < phrase.words.length && ok; k++) ok = tokens[i + k].word === phrase.words[k];
        if (!ok) continue;
        // A cue inside the phrase itself ("no pulse", "not breathing") is part of the complaint.
        const negatedBy = tokens[i].negatedBy;
        hits.push({ phrase, start: i, end, negated: negatedBy >= 0 && negatedBy < i });
      }
    }
    const complaintHits = hits.filter((h) => h.phrase.kind === 'complaint');
    const kept = complaintHits.filter(
      (h) => !complaintHits.some((o) => o !== h && o.start <= h.start && o.end >= h.end && o.end - o.start > h.end - h.start),
    );
    const negated = new Set<string>();
    const matches: ComplaintMatch[] = [];
    const seen = new Set<string>();
    for (const h of kept) {
      const matched = tokens
        .slice(h.start, h.end)
        .map((t) => t.word)
        .join(' ');
      if (h.negated) {
        negated.add(matched);
        continue;
      }
      if (seen.has(h.phrase.id)) continue;
      seen.add(h.phrase.id);
      const entry = entries.get(h.phrase.id)!;
      const notApplicable = applicability(entry, context);
      matches.push({ entry, synonym: h.phrase.synonym, matched, applicable: !notApplicable, notApplicable });
    }
    const found = new Set<string>();
    for (const h of hits.filter((x) => x.phrase.kind === 'modifier')) {
      if (h.negated)
        negated.add(
          tokens
            .slice(h.start, h.end)
            .map((t) => t.word)
            .join(' '),
        );
      else found.add(h.phrase.id);
    }
    return { normalized: norm.text, matches, modifiers: [...found], negated: [...negated], corrections: norm.corrections };
  };

  return { table, entries, modifiers, normalize: (text) => normalize(text, true), match };
}

function applicability(entry: ComplaintEntry, context: MatchContext): string | undefined {
  if (entry.sex && (context.sex === 'male' || context.sex === 'female') && context.sex !== entry.sex) {
    return `applies to ${entry.sex} patients; recorded sex is ${context.sex}`;
  }
  const age = context.ageYears;
  if (age !== undefined && entry.ageYears) {
    if (entry.ageYears.min !== undefined && age < entry.ageYears.min) return `applies from ${entry.ageYears.min} years`;
    if (entry.ageYears.max !== undefined && age > entry.ageYears.max) return `applies up to ${entry.ageYears.max} years`;
  }
  return undefined;
}

let shipped: CompiledComplaints | undefined;

/** The table shipped in server-config/triage/complaints.json, compiled once. */
export function defaultComplaints(): CompiledComplaints {
  shipped ??= compileComplaintTable(tableJson as ComplaintTable);
  return shipped;
}
