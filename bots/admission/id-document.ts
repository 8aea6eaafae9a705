/**
 * What an identity document says, from its text: the machine-readable zone of a passport or ID
 * card (ICAO 9303, parsed by `mrz`), the AAMVA data of a US/Canadian driver's licence barcode
 * (PDF417, as a scanner outputs it), or the printed labels an OCR reads ("LN", "Surname",
 * "DOB", …). Then how it compares with the patient's record. Pure.
 */
import type { Patient } from '@medplum/fhirtypes';
import { parse as parseMrz } from 'mrz';
import { demographicsOf, nameTokens } from './demographics.ts';
import { compareBirthDate, compareFamily, compareGiven } from './similarity.ts';

export interface DocumentIdentity {
  source: 'mrz' | 'barcode' | 'printed';
  family?: string;
  given?: string;
  /** YYYY-MM-DD */
  birthDate?: string;
  documentNumber?: string;
}

const pad = (n: string | number) => String(n).padStart(2, '0');

function validDate(y: number, m: number, d: number): string | undefined {
  if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1880 || y > 2100) return undefined;
  return `${y}-${pad(m)}-${pad(d)}`;
}

/** MRZ dates are YYMMDD: a birth year later than this year is of the last century. */
function mrzDate(yymmdd: string | null | undefined, today: Date): string | undefined {
  if (!yymmdd || !/^\d{6}$/.test(yymmdd)) return undefined;
  const yy = Number(yymmdd.slice(0, 2));
  const century = yy > today.getUTCFullYear() % 100 ? 1900 : 2000;
  return validDate(century + yy, Number(yymmdd.slice(2, 4)), Number(yymmdd.slice(4, 6)));
}

function fromMrz(text: string, today: Date): DocumentIdentity | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.replace(/\s+/g, '').replace(/«/g, '<<').toUpperCase())
    .filter((l) => /^[A-Z0-9<]{28,46}$/.test(l) && l.includes('<'));
  for (const size of [3, 2]) {
    for (let i = 0; i + size <= lines.length; i++) {
      try {
        const result = parseMrz(lines.slice(i, i + size), { autocorrect: true });
        const f = result.fields;
        if (!f.lastName) continue;
        return {
          source: 'mrz',
          family: f.lastName ?? undefined,
          given: f.firstName ?? undefined,
          birthDate: mrzDate(f.birthDate, today),
          documentNumber: f.documentNumber ?? undefined,
        };
      } catch {
        // Not an MRZ of a supported format: try the next lines.
      }
    }
  }
  return undefined;
}

/** AAMVA elements: three-letter ids at the start of a line (DCS family, DAC given, DBB birth date, DAQ number). */
function fromBarcode(text: string): DocumentIdentity | undefined {
  const element = (id: string) => new RegExp(`(?:^|\\n|\\r|\\x1e|DL|ID)${id}([^\\n\\r\\x1e]*)`).exec(text)?.[1]?.trim();
  const family = element('DCS');
  const dob = element('DBB');
  if (!family || !dob) return undefined;
  const given = element('DAC') ?? element('DCT')?.split(',')[0];
  let birthDate: string | undefined;
  if (/^\d{8}$/.test(dob)) {
    // US licences write MMDDCCYY, Canadian ones CCYYMMDD.
    birthDate =
      Number(dob.slice(0, 4)) > 1800
        ? validDate(Number(dob.slice(0, 4)), Number(dob.slice(4, 6)), Number(dob.slice(6, 8)))
        : validDate(Number(dob.slice(4, 8)), Number(dob.slice(0, 2)), Number(dob.slice(2, 4)));
  }
  return { source: 'barcode', family, given, birthDate, documentNumber: element('DAQ') };
}

const LABEL = {
  family: /^(?:\d{1,2}\s*)?(?:LN|LAST\s*NAME|SURNAME|FAMILY\s*NAME|NOM)\b[\s.:]*(.+)$/i,
  given: /^(?:\d{1,2}\s*)?(?:FN|FIRST\s*NAME|GIVEN\s*NAMES?|PR[EÉ]NOMS?)\b[\s.:]*(.+)$/i,
  birth: /^(?:\d{1,2}\s*)?(?:DOB|D\.O\.B\.?|DATE\s*OF\s*BIRTH|BIRTH\s*DATE|BORN|N[EÉ]\(?E?\)?\s*LE)\b[\s.:]*(.+)$/i,
  number: /^(?:\d{1,2}[a-z]?\s*)?(?:DL|LIC(?:ENSE)?\s*(?:NO|#)?|ID\s*(?:NO|#)|DOCUMENT\s*(?:NO|NUMBER))\b[\s.:#]*([A-Z0-9-]{4,})/i,
};

/** A printed date: YYYY-MM-DD, MM/DD/YYYY (US cards), DD.MM.YYYY (European cards), or "03 FEB 1996". */
export function printedDate(text: string, order: 'mdy' | 'dmy' = 'mdy'): string | undefined {
  const iso = /(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (iso) return validDate(Number(iso[1]), Number(iso[2]), Number(iso[3]));
  const months = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
  const named = /(\d{1,2})\s*([A-Z]{3})[A-Z]*\s*(\d{4})/i.exec(text);
  if (named && months.includes(named[2].toUpperCase())) {
    return validDate(Number(named[3]), months.indexOf(named[2].toUpperCase()) + 1, Number(named[1]));
  }
  const dotted = /(\d{1,2})\.(\d{1,2})\.(\d{4})/.exec(text);
  if (dotted) return validDate(Number(dotted[3]), Number(dotted[2]), Number(dotted[1]));
  const slashed = /(\d{1,2})[/-](\d{1,2})[/-](\d{4})/.exec(text);
  if (slashed) {
    const [a, b] = [Number(slashed[1]), Number(slashed[2])];
    return order === 'mdy' && a <= 12 ? validDate(Number(slashed[3]), a, b) : validDate(Number(slashed[3]), b, a);
  }
  return undefined;
}

function fromPrinted(text: string): DocumentIdentity | undefined {
  const out: DocumentIdentity = { source: 'printed' };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    out.family ??= LABEL.family.exec(line)?.[1]?.trim();
    out.given ??= LABEL.given.exec(line)?.[1]?.trim();
    const birth = LABEL.birth.exec(line)?.[1];
    if (birth) out.birthDate ??= printedDate(birth);
    out.documentNumber ??= LABEL.number.exec(line)?.[1];
  }
  return out.family || out.given || out.birthDate ? out : undefined;
}

/** Everything the text says about the holder; the MRZ and the barcode (checked data) win over print. */
export function readIdentity(text: string, today = new Date()): DocumentIdentity | undefined {
  return fromMrz(text, today) ?? fromBarcode(text) ?? fromPrinted(text);
}

export interface IdentityCheck {
  matches: boolean;
  mismatches: string[];
  checked: string[];
}

/** Whether the document is the patient's: names may be misspelt or nicknamed on the record, not different. */
export function compareWithRecord(doc: DocumentIdentity, patient: Patient): IdentityCheck {
  const record = demographicsOf(patient);
  const mismatches: string[] = [];
  const checked: string[] = [];
  if (doc.family) {
    const c = compareFamily(nameTokens(doc.family), record.family);
    checked.push(`family name "${doc.family}" (${c.kind})`);
    if (c.kind === 'different' || c.kind === 'weak')
      mismatches.push(`family name on the document is "${doc.family}", the record has "${record.family.join(' ')}"`);
  }
  if (doc.given) {
    const c = compareGiven(nameTokens(doc.given), record.given);
    checked.push(`given name "${doc.given}" (${c.kind})`);
    if (c.kind === 'different') mismatches.push(`given name on the document is "${doc.given}", the record has "${record.given.join(' ')}"`);
  }
  if (doc.birthDate) {
    const c = compareBirthDate(doc.birthDate, record.birthDate);
    checked.push(`birth date ${doc.birthDate} (${c})`);
    if (c !== 'exact' && c !== 'missing')
      mismatches.push(`birth date on the document is ${doc.birthDate}, the record has ${record.birthDate}`);
  }
  return { matches: mismatches.length === 0 && checked.length > 0, mismatches, checked };
}
