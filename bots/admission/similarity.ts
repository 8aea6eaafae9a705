/**
 * How alike two normalised names or birth dates are, as a kind that a person can read
 * ("nickname", "typo", "day and month transposed"). Jaro-Winkler (from @skyra/jaro-winkler) tells
 * typos from different names. Pure.
 */
import { jaroWinkler } from '@skyra/jaro-winkler';
import { areNicknames } from './nicknames.ts';

/** At or above: one name misspelt (Dubois / Dubios, Catherine / Cathrine). */
export const TYPO_SIMILARITY = 0.9;
/** At or above: probably the same name, badly spelt or badly heard. */
export const WEAK_SIMILARITY = 0.84;

export type FamilyComparison = 'exact' | 'compound' | 'typo' | 'weak' | 'different' | 'missing';
export type GivenComparison = 'exact' | 'nickname' | 'typo' | 'middle-name' | 'initial' | 'weak' | 'different' | 'missing';
export type DateComparison = 'exact' | 'transposed' | 'typo' | 'different' | 'missing';

export function similarity(a: string, b: string): number {
  return a && b ? jaroWinkler(a, b) : 0;
}

/** Family names: whole, one part of a hyphenated or compound name ("garcia lopez" / "garcia"), typo. */
export function compareFamily(a: string[], b: string[]): { kind: FamilyComparison; similarity: number } {
  if (a.length === 0 || b.length === 0) return { kind: 'missing', similarity: 0 };
  const ja = a.join('');
  const jb = b.join('');
  if (ja === jb) return { kind: 'exact', similarity: 1 };
  const whole = similarity(ja, jb);
  if (a.some((t) => t.length > 1 && b.includes(t))) return { kind: 'compound', similarity: whole };
  let best = whole;
  for (const ta of a) for (const tb of b) best = Math.max(best, similarity(ta, tb));
  if (best >= TYPO_SIMILARITY) return { kind: 'typo', similarity: best };
  if (best >= WEAK_SIMILARITY) return { kind: 'weak', similarity: best };
  return { kind: 'different', similarity: best };
}

function compareOne(a: string, b: string): { kind: GivenComparison; similarity: number } {
  if (a === b) return { kind: 'exact', similarity: 1 };
  if (areNicknames(a, b)) return { kind: 'nickname', similarity: 1 };
  const s = similarity(a, b);
  if (s >= TYPO_SIMILARITY) return { kind: 'typo', similarity: s };
  if ((a.length === 1 && b.startsWith(a)) || (b.length === 1 && a.startsWith(b))) return { kind: 'initial', similarity: s };
  if (s >= WEAK_SIMILARITY) return { kind: 'weak', similarity: s };
  return { kind: 'different', similarity: s };
}

const GIVEN_RANK: GivenComparison[] = ['exact', 'nickname', 'typo', 'middle-name', 'initial', 'weak', 'different', 'missing'];

/** First given names, else a first name that is the other's middle name ("Ana Maria" / "Maria"). */
export function compareGiven(a: string[], b: string[]): { kind: GivenComparison; similarity: number } {
  if (a.length === 0 || b.length === 0) return { kind: 'missing', similarity: 0 };
  const first = compareOne(a[0], b[0]);
  if (first.kind === 'exact' || first.kind === 'nickname' || first.kind === 'typo') return first;
  // Run-together compound first names: "mariajose" / "maria jose".
  if (a.join('') === b.join('')) return { kind: 'exact', similarity: 1 };
  const middle = a.slice(1).some((x) => b.includes(x) && x.length > 1) || b.slice(1).some((x) => a.includes(x) && x.length > 1);
  if (middle) return { kind: 'middle-name', similarity: first.similarity };
  return GIVEN_RANK.indexOf(first.kind) <= GIVEN_RANK.indexOf('weak') ? first : { kind: 'different', similarity: first.similarity };
}

function digitsDiffering(a: string, b: string): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** Birth dates (YYYY-MM-DD): the same, day and month swapped (03/02 for 02/03), or one digit wrong. */
export function compareBirthDate(a: string | undefined, b: string | undefined): DateComparison {
  if (!a || !b) return 'missing';
  if (a === b) return 'exact';
  const [ya, ma, da] = a.split('-');
  const [yb, mb, db] = b.split('-');
  if (ya === yb && ma === db && da === mb) return 'transposed';
  if (digitsDiffering(a.replaceAll('-', ''), b.replaceAll('-', '')) === 1) return 'typo';
  // Two adjacent digits swapped within one part (1984 / 1948, 12 / 21).
  const parts: [string, string][] = [
    [ya, yb],
    [ma, mb],
    [da, db],
  ];
  const changed = parts.filter(([x, y]) => x !== y);
  if (changed.length === 1) {
    const [x, y] = changed[0];
    for (let i = 0; i + 1 < x.length; i++) {
      if (x[i] === y[i + 1] && x[i + 1] === y[i] && x.slice(0, i) === y.slice(0, i) && x.slice(i + 2) === y.slice(i + 2)) return 'typo';
    }
  }
  return 'different';
}
