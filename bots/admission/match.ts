/**
 * The master patient index's decision for one arrival: deterministic on strong identifiers
 * (MRN, SSN / national id, driver licence, passport), probabilistic otherwise — each field adds or
 * takes away points (in the spirit of Fellegi–Sunter match weights), and every point has a reason a
 * registration clerk can read. Pure.
 *
 * Never silently merge two people: a link needs a clear score, a single clear candidate, and no
 * evidence of a different person (a different SSN, or twins: same birth date and surname, a
 * different given name).
 */
import type { Demographics, IdentifierKind } from './demographics.ts';
import { compareBirthDate, compareFamily, compareGiven } from './similarity.ts';

export interface MatchThresholds {
  /** At or above: the same person (the arrival is linked to the record). */
  link: number;
  /** At or above (and below `link`): a registration clerk confirms. Below: a new patient. */
  review: number;
}

export const DEFAULT_THRESHOLDS: MatchThresholds = { link: 11, review: 6 };

export interface MatchReason {
  field: 'identifier' | 'family' | 'given' | 'birthDate' | 'sex' | 'phone' | 'address' | 'twin';
  points: number;
  text: string;
}

export interface CandidateScore {
  score: number;
  reasons: MatchReason[];
  /** A strong identifier in common. */
  identifierMatch: boolean;
  /** Why this candidate may not be linked automatically, whatever its score. */
  block?: 'different-person' | 'review-only';
}

export type MatchDecision = 'link' | 'review' | 'new';

export interface MatchResult<T> {
  decision: MatchDecision;
  /** The record linked to, or offered to the clerk. */
  best?: { candidate: T; score: CandidateScore };
  /** Every candidate scored, best first. */
  ranked: { candidate: T; score: CandidateScore }[];
  rationale: string;
}

const FAMILY_POINTS = { exact: 4, compound: 3, typo: 3, weak: 1, different: -4, missing: 0 } as const;
const GIVEN_POINTS = {
  exact: 3,
  nickname: 2.5,
  typo: 2.5,
  'middle-name': 1.5,
  initial: 0.5,
  weak: 0.5,
  different: -4,
  missing: 0,
} as const;
const DATE_POINTS = { exact: 5, transposed: 3, typo: 2.5, different: -6, missing: 0 } as const;
/** Identifiers that belong to one person only: a different value means a different person. */
const PERSONAL: ReadonlySet<IdentifierKind> = new Set(['ssn', 'national-id', 'passport']);

const LABEL: Record<IdentifierKind, string> = {
  mrn: 'MRN',
  ssn: 'SSN',
  'driver-licence': "driver's licence",
  'national-id': 'national id',
  passport: 'passport',
};

export function scoreCandidate(a: Demographics, b: Demographics): CandidateScore {
  const reasons: MatchReason[] = [];
  let identifierMatch = false;
  let block: CandidateScore['block'];
  for (const ia of a.identifiers) {
    for (const ib of b.identifiers) {
      if (ia.kind !== ib.kind || (ia.system && ib.system && ia.system !== ib.system)) continue;
      if (ia.value === ib.value) {
        identifierMatch = true;
        reasons.push({ field: 'identifier', points: 20, text: `same ${LABEL[ia.kind]} ${ia.value}` });
      } else if (PERSONAL.has(ia.kind)) {
        block = 'different-person';
        reasons.push({ field: 'identifier', points: -20, text: `different ${LABEL[ia.kind]} (${ia.value} / ${ib.value})` });
      } else {
        block ??= 'review-only';
        reasons.push({ field: 'identifier', points: -2, text: `different ${LABEL[ia.kind]} (${ia.value} / ${ib.value})` });
      }
    }
  }

  const family = compareFamily(a.family, b.family);
  if (family.kind !== 'missing') {
    const text = {
      exact: 'same family name',
      compound: 'family name shares a part (hyphenated or compound name)',
      typo: `family name misspelt (similarity ${family.similarity.toFixed(2)})`,
      weak: `family name similar (${family.similarity.toFixed(2)})`,
      different: 'different family name',
    }[family.kind];
    reasons.push({ field: 'family', points: FAMILY_POINTS[family.kind], text });
  }
  const given = compareGiven(a.given, b.given);
  if (given.kind !== 'missing') {
    const text = {
      exact: 'same given name',
      nickname: `given name is a nickname or another form (${a.given[0]} / ${b.given[0]})`,
      typo: `given name misspelt (similarity ${given.similarity.toFixed(2)})`,
      'middle-name': 'given name matches a middle name',
      initial: 'given name matches an initial',
      weak: `given name similar (${given.similarity.toFixed(2)})`,
      different: `different given name (${a.given[0]} / ${b.given[0]})`,
    }[given.kind];
    reasons.push({ field: 'given', points: GIVEN_POINTS[given.kind], text });
  }
  const date = compareBirthDate(a.birthDate, b.birthDate);
  if (date !== 'missing') {
    const text = {
      exact: 'same birth date',
      transposed: `birth date with day and month transposed (${a.birthDate} / ${b.birthDate})`,
      typo: `birth date one digit apart (${a.birthDate} / ${b.birthDate})`,
      different: `different birth date (${a.birthDate} / ${b.birthDate})`,
    }[date];
    reasons.push({ field: 'birthDate', points: DATE_POINTS[date], text });
  }
  if (a.sex && b.sex) {
    reasons.push(a.sex === b.sex ? { field: 'sex', points: 0.5, text: 'same sex' } : { field: 'sex', points: -3, text: 'different sex' });
  }
  if (a.phones.length && b.phones.length) {
    const same = a.phones.some((p) => b.phones.includes(p));
    // Phones change, and families share them: a match says more than a difference.
    reasons.push(
      same ? { field: 'phone', points: 2.5, text: 'same phone number' } : { field: 'phone', points: -0.5, text: 'different phone number' },
    );
  }
  if (a.postalCode && b.postalCode) {
    if (a.line && b.line && a.line === b.line && a.postalCode === b.postalCode) {
      reasons.push({ field: 'address', points: 2, text: 'same address' });
    } else if (a.postalCode === b.postalCode) {
      reasons.push({ field: 'address', points: 0.5, text: 'same postal code' });
    }
  }
  // Twins (and triplets) share a surname, a birth date, often a phone and an address: only the
  // given name tells them apart, so a clearly different given name is never the same person.
  if (!identifierMatch && date === 'exact' && (family.kind === 'exact' || family.kind === 'compound') && given.kind === 'different') {
    block = 'different-person';
    reasons.push({
      field: 'twin',
      points: 0,
      text: 'same birth date and family name but a different given name: possibly a twin, not the same person',
    });
  }
  // A first name that is the other's middle name is how many people go by their second name, and
  // also how twins are often named (Ana Maria / Maria Ana): a person decides.
  if (!identifierMatch && given.kind === 'middle-name' && date === 'exact' && (family.kind === 'exact' || family.kind === 'compound')) {
    block ??= 'review-only';
    reasons.push({
      field: 'twin',
      points: 0,
      text: "first names differ but one is the other's middle name: a clerk confirms (could be a twin)",
    });
  }
  const score = Math.round(reasons.reduce((sum, r) => sum + r.points, 0) * 10) / 10;
  return { score, reasons, identifierMatch, block };
}

function decisionOf(s: CandidateScore, t: MatchThresholds): MatchDecision {
  if (s.block === 'different-person') return 'new';
  if (s.identifierMatch) {
    // An identifier shared by someone who looks different is a data error or a borrowed card.
    const demographic = s.reasons.filter((r) => r.field !== 'identifier').reduce((sum, r) => sum + r.points, 0);
    return demographic < 0 ? 'review' : s.block === 'review-only' ? 'review' : 'link';
  }
  if (s.score >= t.link) return s.block === 'review-only' ? 'review' : 'link';
  return s.score >= t.review ? 'review' : 'new';
}

export function describeScore(s: CandidateScore): string {
  return `score ${s.score}: ${s.reasons.map((r) => `${r.text} (${r.points >= 0 ? '+' : ''}${r.points})`).join('; ')}`;
}

/** Scores every candidate and decides: link to one, ask a clerk, or register a new patient. */
export function matchPatient<T>(
  arrival: Demographics,
  candidates: { candidate: T; demographics: Demographics }[],
  thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
  label: (c: T) => string = String,
): MatchResult<T> {
  const ranked = candidates
    .map((c) => ({ candidate: c.candidate, score: scoreCandidate(arrival, c.demographics) }))
    .sort((x, y) => Number(y.score.identifierMatch) - Number(x.score.identifierMatch) || y.score.score - x.score.score);
  const decided = ranked.map((r) => ({ ...r, decision: decisionOf(r.score, thresholds) }));
  const links = decided.filter((r) => r.decision === 'link');
  if (links.length > 1) {
    return {
      decision: 'review',
      best: links[0],
      ranked,
      rationale: `Several records match (${links.map((l) => `${label(l.candidate)} ${l.score.score}`).join(', ')}): a clerk chooses; the index may hold duplicates.`,
    };
  }
  if (links.length === 1) {
    return {
      decision: 'link',
      best: links[0],
      ranked,
      rationale: `Linked to ${label(links[0].candidate)}, ${describeScore(links[0].score)}.`,
    };
  }
  const review = decided.find((r) => r.decision === 'review');
  if (review) {
    return {
      decision: 'review',
      best: review,
      ranked,
      rationale: `Possible match ${label(review.candidate)} needs a clerk's confirmation (link at ${thresholds.link}, review at ${thresholds.review}), ${describeScore(review.score)}.`,
    };
  }
  const nearest = ranked[0];
  return {
    decision: 'new',
    ranked,
    rationale: nearest
      ? `No record matches well enough (best ${label(nearest.candidate)}, ${describeScore(nearest.score)}${nearest.score.block === 'different-person' ? ' — a different person' : ''}): a new patient.`
      : 'No candidate record found: a new patient.',
  };
}
