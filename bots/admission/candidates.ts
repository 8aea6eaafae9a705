/**
 * Blocking: which records are worth scoring for an arrival. Each search is cheap and indexed
 * (identifier, birth date and its transposition, phone, the start of the family name); a record
 * found by any of them is scored. Pure (the searches are run by the caller).
 */
import type { Demographics } from './demographics.ts';

export interface CandidateSearch {
  why: string;
  params: Record<string, string>;
}

/** The birth date with day and month swapped, when that is a valid date different from it. */
export function transposedDate(date: string | undefined): string | undefined {
  if (!date) return undefined;
  const [y, m, d] = date.split('-');
  if (m === d || Number(d) > 12) return undefined;
  return `${y}-${d}-${m}`;
}

export function candidateSearches(d: Demographics, count = 50): CandidateSearch[] {
  const searches: CandidateSearch[] = [];
  // Inactive and merged records are dropped after the search: `active` is often absent.
  const common = { _count: String(count) };
  for (const id of d.identifiers) {
    searches.push({ why: `identifier ${id.kind}`, params: { ...common, identifier: id.system ? `${id.system}|${id.value}` : id.value } });
  }
  if (d.birthDate) {
    searches.push({ why: 'birth date', params: { ...common, birthdate: d.birthDate } });
    const swapped = transposedDate(d.birthDate);
    if (swapped) searches.push({ why: 'transposed birth date', params: { ...common, birthdate: swapped } });
  }
  for (const phone of d.phones) {
    searches.push({ why: 'phone', params: { ...common, phone } });
  }
  for (const part of d.family) {
    if (part.length >= 2) searches.push({ why: 'family name', params: { ...common, family: part.slice(0, 3) } });
  }
  return searches;
}

/** The same blocking as keys, for an in-memory index (the benchmark). */
export function blockingKeys(d: Demographics): string[] {
  const keys = d.identifiers.map((i) => `id:${i.kind}:${i.value}`);
  if (d.birthDate) keys.push(`dob:${d.birthDate}`);
  for (const p of d.phones) keys.push(`phone:${p}`);
  for (const part of d.family) if (part.length >= 2) keys.push(`family:${part.slice(0, 3)}`);
  return keys;
}

/** The keys to look up for an arrival: its own, plus its birth date transposed. */
export function lookupKeys(d: Demographics): string[] {
  const swapped = transposedDate(d.birthDate);
  return [...blockingKeys(d), ...(swapped ? [`dob:${swapped}`] : [])];
}
