import type { Address, CodeableConcept, ContactPoint, HumanName, Identifier, Practitioner, Quantity } from '@medplum/fhirtypes';
import type { Delimiters } from '../../hl7-bridge/hl7v2/delimiters.ts';
import { escapeValue } from '../../hl7-bridge/hl7v2/escape.ts';

/**
 * FHIR datatypes → HL7 v2 (the reverse of bots/hl7-inbound/datatypes), so a legacy system gets
 * back what it sent and what EmergiSphere adds reads the same way. Every function returns the raw
 * (escaped) text of one repetition.
 */

const LOCAL_SYSTEM_BASE = 'https://emergisphere.dev/fhir/sid/hl7v2/';
const KNOWN_NAMESPACES: Record<string, string> = {
  'http://hl7.org/fhir/sid/us-ssn': 'SSA',
  'http://hl7.org/fhir/sid/us-npi': 'NPI',
  'http://hl7.org/fhir/sid/us-medicare': 'CMS',
};
const CODE_SYSTEMS: Record<string, string> = {
  'http://loinc.org': 'LN',
  'http://snomed.info/sct': 'SCT',
  'http://hl7.org/fhir/sid/icd-10': 'I10',
  'http://hl7.org/fhir/sid/icd-10-cm': 'I10C',
  'http://www.ama-assn.org/go/cpt': 'CPT',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'RXNORM',
  'http://unitsofmeasure.org': 'UCUM',
  'urn:ietf:bcp:47': 'ISO639',
};

/** Joins components, dropping trailing empty ones. */
export function components(d: Delimiters, parts: string[]): string {
  const out = [...parts];
  while (out.length && out[out.length - 1] === '') out.pop();
  return out.join(d.component);
}

/** An identifier system → an HD (as sub-components of one component): namespace & universal id & type. */
export function hdOf(d: Delimiters, system: string | undefined, assigner?: string): string {
  if (!system) return escapeValue(assigner ?? '', d);
  const esc = (v: string) => escapeValue(v, d);
  if (system.startsWith(LOCAL_SYSTEM_BASE)) return esc(decodeURIComponent(system.slice(LOCAL_SYSTEM_BASE.length)));
  if (KNOWN_NAMESPACES[system]) return KNOWN_NAMESPACES[system];
  if (system.startsWith('urn:oid:')) return [esc(assigner ?? ''), esc(system.slice(8)), 'ISO'].join(d.subcomponent);
  if (system.startsWith('urn:uuid:')) return [esc(assigner ?? ''), esc(system.slice(9)), 'UUID'].join(d.subcomponent);
  return [esc(assigner ?? ''), esc(system), 'URI'].join(d.subcomponent);
}

/** Identifier → CX (value ^^^ assigning authority ^ type). */
export function cxOf(d: Delimiters, id: Identifier): string {
  const type = id.type?.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0203')?.code ?? '';
  return components(d, [escapeValue(id.value ?? '', d), '', '', hdOf(d, id.system, id.assigner?.display), escapeValue(type, d)]);
}

const NAME_TYPE: Record<string, string> = {
  official: 'L',
  usual: 'D',
  maiden: 'M',
  nickname: 'N',
  anonymous: 'MSK',
  temp: 'TEMP',
  old: 'BAD',
};

/** HumanName → XPN (family ^ given ^ further given ^ suffix ^ prefix ^^ type). */
export function xpnOf(d: Delimiters, name: HumanName): string {
  const esc = (v: string | undefined) => escapeValue(v ?? '', d);
  const [given, ...more] = name.given ?? [];
  return components(d, [
    esc(name.family),
    esc(given),
    esc(more.join(' ')),
    esc(name.suffix?.[0]),
    esc(name.prefix?.[0]),
    '',
    NAME_TYPE[name.use ?? ''] ?? '',
  ]);
}

const ADDRESS_TYPE: Record<string, string> = { home: 'H', work: 'B', temp: 'C', old: 'BA', billing: 'BI' };

/** Address → XAD (street ^ other ^ city ^ state ^ zip ^ country ^ type). */
export function xadOf(d: Delimiters, a: Address): string {
  const esc = (v: string | undefined) => escapeValue(v ?? '', d);
  return components(d, [
    esc(a.line?.[0]),
    esc(a.line?.slice(1).join(' ')),
    esc(a.city),
    esc(a.state),
    esc(a.postalCode),
    esc(a.country),
    a.type === 'postal' ? 'M' : (ADDRESS_TYPE[a.use ?? ''] ?? ''),
  ]);
}

/** ContactPoint → XTN (unformatted ^ use ^ equipment ^ email). */
export function xtnOf(d: Delimiters, c: ContactPoint): string {
  const esc = (v: string | undefined) => escapeValue(v ?? '', d);
  if (c.system === 'email') return components(d, ['', 'NET', 'Internet', esc(c.value)]);
  const use = c.use === 'work' ? 'WPN' : c.use === 'mobile' ? 'PRS' : 'PRN';
  const equipment = c.system === 'fax' ? 'FX' : c.system === 'pager' ? 'BP' : c.use === 'mobile' ? 'CP' : 'PH';
  return components(d, [esc(c.value), use, equipment]);
}

/** A code system URI → its HL7 name (LN, SCT, HL70004 …), else the URI. */
export function codeSystemName(system: string | undefined): string {
  if (!system) return '';
  if (CODE_SYSTEMS[system]) return CODE_SYSTEMS[system];
  const table = /^http:\/\/terminology\.hl7\.org\/CodeSystem\/v2-(\d{4})$/.exec(system);
  if (table) return `HL7${table[1]}`;
  const local = /^https:\/\/emergisphere\.dev\/fhir\/CodeSystem\/hl7v2\/(.+)$/.exec(system);
  return local ? decodeURIComponent(local[1]) : system;
}

/** CodeableConcept → CWE (code ^ display ^ system [^ alternate triplet] … ^ original text). */
export function cweOf(d: Delimiters, cc: CodeableConcept | undefined): string {
  if (!cc) return '';
  const esc = (v: string | undefined) => escapeValue(v ?? '', d);
  const [first, second] = cc.coding ?? [];
  const parts = [
    esc(first?.code),
    esc(first?.display),
    esc(codeSystemName(first?.system)),
    esc(second?.code),
    esc(second?.display),
    esc(codeSystemName(second?.system)),
  ];
  if (cc.text && cc.text !== first?.display) parts.push('', '', esc(cc.text));
  return components(d, parts);
}

/** A Quantity's units → CWE (UCUM when coded). */
export function unitsOf(d: Delimiters, q: Quantity | undefined): string {
  if (!q?.unit && !q?.code) return '';
  const ucum = q.system === 'http://unitsofmeasure.org';
  return components(d, [escapeValue(q.code ?? q.unit ?? '', d), escapeValue(q.unit ?? q.code ?? '', d), ucum ? 'UCUM' : '']);
}

/** Practitioner → XCN (id ^ family ^ given ^ middle ^ suffix ^ prefix ^^^ assigning authority). */
export function xcnOf(d: Delimiters, p: Practitioner | undefined, display?: string): string {
  const esc = (v: string | undefined) => escapeValue(v ?? '', d);
  if (!p) return display ? components(d, ['', esc(display)]) : '';
  const id = p.identifier?.[0];
  const name = p.name?.[0];
  return components(d, [
    esc(id?.value),
    esc(name?.family ?? display),
    esc(name?.given?.[0]),
    esc(name?.given?.slice(1).join(' ')),
    esc(name?.suffix?.[0]),
    esc(name?.prefix?.[0]),
    '',
    '',
    id ? hdOf(d, id.system, id.assigner?.display) : '',
  ]);
}

/** A deterministic MSH-10 (≤ 20 characters) from a key, so a redelivered event sends the same message. */
export function controlIdFor(key: string): string {
  // cyrb53: a fast 53-bit string hash.
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const hash = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return `EO${hash.toString(36).toUpperCase()}`;
}
