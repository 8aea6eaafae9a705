/**
 * What the master patient index compares, taken out of a Patient and normalised: names without
 * accents, case or punctuation (hyphenated and compound names as tokens), phone digits, a postal
 * code and first address line, strong identifiers by kind. Pure.
 */
import type { Identifier, Patient } from '@medplum/fhirtypes';
import { IDENTIFIER_TYPE_SYSTEM, SSN_SYSTEM } from './codes.ts';

export type IdentifierKind = 'mrn' | 'ssn' | 'driver-licence' | 'national-id' | 'passport';

export interface StrongIdentifier {
  kind: IdentifierKind;
  system: string;
  value: string;
}

export interface Demographics {
  /** Given names (first, then middle), normalised tokens. */
  given: string[];
  /** Family name tokens ("García-López" → garcia, lopez). */
  family: string[];
  /** YYYY-MM-DD when complete. */
  birthDate?: string;
  sex?: string;
  /** Last ten digits of each phone number. */
  phones: string[];
  postalCode?: string;
  /** First address line, normalised ("12 Main Street" → "12 main st"). */
  line?: string;
  identifiers: StrongIdentifier[];
}

/** Letters that NFD does not decompose into a base letter and an accent. */
const FOLD: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ı: 'i' };

/** Lower case, accents and apostrophes removed, other punctuation as spaces. */
export function normalizeText(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[ßæœøłđðþı]/g, (c) => FOLD[c] ?? c)
    .replace(/['’`´]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

export function nameTokens(text: string | undefined): string[] {
  return text ? normalizeText(text).split(' ').filter(Boolean) : [];
}

const STREET_WORDS: Record<string, string> = {
  street: 'st',
  avenue: 'ave',
  road: 'rd',
  boulevard: 'blvd',
  drive: 'dr',
  lane: 'ln',
  court: 'ct',
  place: 'pl',
  apartment: 'apt',
  north: 'n',
  south: 's',
  east: 'e',
  west: 'w',
};

export function normalizeAddressLine(line: string): string {
  return nameTokens(line)
    .map((w) => STREET_WORDS[w] ?? w)
    .join(' ');
}

export function phoneDigits(value: string): string | undefined {
  const digits = value.replace(/\D/g, '');
  return digits.length >= 7 ? digits.slice(-10) : undefined;
}

export function normalizeIdentifierValue(value: string): string {
  return value.replace(/[\s-]/g, '').toUpperCase();
}

function typeCode(identifier: Identifier): string | undefined {
  return identifier.type?.coding?.find((c) => c.system === IDENTIFIER_TYPE_SYSTEM)?.code;
}

/** The kind of a strong identifier, from its system or its v2-0203 type; undefined for weak ones. */
export function identifierKind(identifier: Identifier): IdentifierKind | undefined {
  const code = typeCode(identifier);
  const system = identifier.system ?? '';
  if (system === SSN_SYSTEM || code === 'SS' || code === 'SB') return 'ssn';
  if (code === 'MR' || /\/mrn\b|mrn$/i.test(system)) return 'mrn';
  if (code === 'DL' || /driver|\/dl\b/i.test(system)) return 'driver-licence';
  if (code === 'PPN' || /passport/i.test(system)) return 'passport';
  if (code === 'NI' || code === 'NN' || code?.startsWith('NN') || /national-id|nationalid/i.test(system)) return 'national-id';
  return undefined;
}

export function strongIdentifiers(patient: Pick<Patient, 'identifier'>): StrongIdentifier[] {
  const out: StrongIdentifier[] = [];
  for (const identifier of patient.identifier ?? []) {
    const kind = identifierKind(identifier);
    if (!kind || !identifier.value?.trim() || identifier.use === 'old') continue;
    out.push({ kind, system: identifier.system ?? '', value: normalizeIdentifierValue(identifier.value) });
  }
  return out;
}

function completeDate(date: string | undefined): string | undefined {
  return date && /^\d{4}-\d{2}-\d{2}$/.test(date) ? date : undefined;
}

export function demographicsOf(patient: Patient): Demographics {
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.find((n) => n.use !== 'old') ?? patient.name?.[0];
  let given = (name?.given ?? []).flatMap(nameTokens);
  let family = nameTokens(name?.family);
  if (given.length === 0 && family.length === 0 && name?.text) {
    const tokens = nameTokens(name.text);
    given = tokens.slice(0, -1);
    family = tokens.slice(-1);
  }
  const address = patient.address?.find((a) => a.use !== 'old') ?? patient.address?.[0];
  const line = address?.line?.[0] ? normalizeAddressLine(address.line[0]) : undefined;
  return {
    given,
    family,
    birthDate: completeDate(patient.birthDate),
    sex: patient.gender === 'male' || patient.gender === 'female' ? patient.gender : undefined,
    phones: [
      ...new Set(
        (patient.telecom ?? []).filter((t) => t.system === 'phone' && t.value).flatMap((t) => phoneDigits(t.value as string) ?? []),
      ),
    ],
    postalCode: address?.postalCode ? normalizeIdentifierValue(address.postalCode).slice(0, 5) : undefined,
    line: line || undefined,
    identifiers: strongIdentifiers(patient),
  };
}

/** Whether there is anything to match on (an unconscious arrival without ID has nothing). */
export function isIdentifiable(d: Demographics): boolean {
  return d.identifiers.length > 0 || (d.family.length > 0 && (d.given.length > 0 || !!d.birthDate));
}
