import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

/** HL7 coding system names (table 0396) → FHIR system URIs. */
const SYSTEMS: Record<string, string> = {
  LN: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  CPT: 'http://www.ama-assn.org/go/cpt',
  C4: 'http://www.ama-assn.org/go/cpt',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  RXN: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  UCUM: 'http://unitsofmeasure.org',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  ISO639: 'urn:ietf:bcp:47',
  HCPCS: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
};

/** "HL70063" → the v2 code system URI; known names → their URI; anything else a local URI. */
export function codeSystemUri(name: string): string | undefined {
  if (!name) return undefined;
  const upper = name.toUpperCase();
  const table = /^HL7(\d{4})$/.exec(upper);
  if (table) return `http://terminology.hl7.org/CodeSystem/v2-${table[1]}`;
  if (SYSTEMS[upper]) return SYSTEMS[upper];
  if (/^[a-z][a-z0-9+.-]*:/i.test(name)) return name;
  return `https://emergisphere.dev/fhir/CodeSystem/hl7v2/${encodeURIComponent(name)}`;
}

function coding(code: string, display: string, system: string, version?: string): Coding | undefined {
  if (!code && !display) return undefined;
  const c: Coding = {};
  const uri = codeSystemUri(system);
  if (uri) c.system = uri;
  if (version) c.version = version;
  if (code) c.code = code;
  if (display) c.display = display;
  return code ? c : undefined;
}

/**
 * CWE/CE/CNE → CodeableConcept (IG CWE[CodeableConcept]): the identifier triplet (.1–.3) and the
 * alternate triplet (.4–.6) become codings, .9 original text (or the first display) → text.
 */
export function cweToCodeableConcept(rep: Rep): CodeableConcept | undefined {
  if (rep.empty || rep.isNull) return undefined;
  const codings = [coding(rep.c(1), rep.c(2), rep.c(3), rep.c(7)), coding(rep.c(4), rep.c(5), rep.c(6), rep.c(8))].filter(
    (c): c is Coding => !!c,
  );
  const text = rep.c(9) || (codings.length === 0 ? rep.c(2) || rep.c(1) : undefined);
  if (codings.length === 0 && !text) return undefined;
  return { ...(codings.length ? { coding: codings } : {}), ...(text ? { text } : {}) };
}

/** The first coding of a CWE, for Coding-typed elements (Encounter.class). */
export function cweToCoding(rep: Rep): Coding | undefined {
  return cweToCodeableConcept(rep)?.coding?.[0];
}
