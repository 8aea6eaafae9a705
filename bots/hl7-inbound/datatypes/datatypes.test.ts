import { describe, expect, test } from 'vitest';
import { Message, type Rep } from '../../../hl7-bridge/hl7v2/message.ts';
import { codeSystemUri, cweToCodeableConcept } from './cwe.ts';
import { cxToIdentifier } from './cx.ts';
import { eiToIdentifier } from './ei.ts';
import { systemFromHd } from './hd.ts';
import { plToLocation } from './pl.ts';
import { xadToAddress } from './xad.ts';
import { xcnToPractitioner } from './xcn.ts';
import { xpnToHumanName } from './xpn.ts';
import { xtnToContactPoint } from './xtn.ts';

/** The first repetition of ZZZ-1 holding `value` (so each test reads one datatype in isolation). */
function rep(value: string): Rep {
  return Message.parse(`MSH|^~\\&|A|B|C|D|20260105||ADT^A08|X|P|2.5\rZZZ|${value}\r`).segment('ZZZ')?.rep(1) as Rep;
}

describe('HD → identifier system', () => {
  test('OIDs, UUIDs, URIs, well-known and local namespaces', () => {
    expect(systemFromHd('HOSP', '1.2.840.114350', 'ISO')).toBe('urn:oid:1.2.840.114350');
    expect(systemFromHd('', 'C3F9A1E2-0000-4000-8000-000000000001', 'UUID')).toBe('urn:uuid:c3f9a1e2-0000-4000-8000-000000000001');
    expect(systemFromHd('X', 'https://hospital.example/mrn', 'URI')).toBe('https://hospital.example/mrn');
    expect(systemFromHd('SSA')).toBe('http://hl7.org/fhir/sid/us-ssn');
    expect(systemFromHd('GEN HOSP')).toBe('https://emergisphere.dev/fhir/sid/hl7v2/GEN%20HOSP');
    expect(systemFromHd('')).toBeUndefined();
  });
});

describe('CX → Identifier (IG CX[Identifier])', () => {
  test('value, system from CX.4 sub-components, type, assigner, period; leading zeros kept', () => {
    expect(cxToIdentifier(rep('000123^5^M11^HOSP&1.2.3&ISO^MR^^20200101^20301231'))).toEqual({
      value: '000123',
      system: 'urn:oid:1.2.3',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      assigner: { display: 'HOSP' },
      period: { start: '2020-01-01', end: '2030-12-31' },
    });
    expect(cxToIdentifier(rep('^^^HOSP'))).toBeUndefined();
    expect(cxToIdentifier(rep('V1'), 'VN')?.type?.coding?.[0].code).toBe('VN');
  });
});

describe('XPN → HumanName', () => {
  test('family, given names, prefix, suffixes, use', () => {
    expect(xpnToHumanName(rep("O'Brien^Mary^Kate Ann^Jr^Mrs^PhD^L"))).toEqual({
      family: "O'Brien",
      given: ['Mary', 'Kate', 'Ann'],
      prefix: ['Mrs'],
      suffix: ['Jr', 'PhD'],
      use: 'official',
    });
    expect(xpnToHumanName(rep('Smith^^^^^^M'))).toEqual({ family: 'Smith', use: 'maiden' });
    expect(xpnToHumanName(rep('Doe^Jo^^^^^B'))?.use).toBeUndefined();
    expect(xpnToHumanName(rep('^^^Jr'))).toBeUndefined();
  });
});

describe('XAD, XTN', () => {
  test('address lines, city, state, zip, country, use', () => {
    expect(xadToAddress(rep('12 Main St^Apt 4^Springfield^IL^62701^USA^H^^Sangamon'))).toEqual({
      line: ['12 Main St', 'Apt 4'],
      city: 'Springfield',
      state: 'IL',
      postalCode: '62701',
      country: 'USA',
      district: 'Sangamon',
      use: 'home',
    });
    expect(xadToAddress(rep('PO Box 1^^Town^^^^M'))?.type).toBe('postal');
  });
  test('phones from components or the unformatted number, emails, uses', () => {
    expect(xtnToContactPoint(rep('^PRN^PH^^1^217^5551234^22'))).toEqual({ system: 'phone', value: '+1 (217) 5551234 x22', use: 'home' });
    expect(xtnToContactPoint(rep('(217)555-0000'), 'work')).toEqual({ system: 'phone', value: '(217)555-0000', use: 'work' });
    expect(xtnToContactPoint(rep('^NET^Internet^ann@example.org'))).toEqual({ system: 'email', value: 'ann@example.org' });
    expect(xtnToContactPoint(rep('^PRS^CP^^^^5550101'))).toEqual({ system: 'phone', value: '5550101', use: 'mobile' });
  });
});

describe('CWE → CodeableConcept', () => {
  test('both triplets, known and table systems, original text', () => {
    expect(cweToCodeableConcept(rep('2345-7^Glucose^LN^GLU^Glucose, serum^99LAB^^^Blood glucose'))).toEqual({
      coding: [
        { system: 'http://loinc.org', code: '2345-7', display: 'Glucose' },
        { system: 'https://emergisphere.dev/fhir/CodeSystem/hl7v2/99LAB', code: 'GLU', display: 'Glucose, serum' },
      ],
      text: 'Blood glucose',
    });
    expect(codeSystemUri('HL70063')).toBe('http://terminology.hl7.org/CodeSystem/v2-0063');
    expect(cweToCodeableConcept(rep('^Chest pain'))).toEqual({ text: 'Chest pain' });
    expect(cweToCodeableConcept(rep('""'))).toBeUndefined();
  });
});

describe('XCN, PL, EI', () => {
  test('XCN → Practitioner with identifier and name', () => {
    const p = xcnToPractitioner(rep('1234^House^Gregory^M^III^Dr^MD^^NPI^^^^NPI'));
    expect(p?.identifier).toEqual({
      value: '1234',
      system: 'http://hl7.org/fhir/sid/us-npi',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NPI' }] },
    });
    expect(p?.practitioner.name).toEqual([{ family: 'House', given: ['Gregory', 'M'], prefix: ['Dr'], suffix: ['III', 'MD'] }]);
    expect(p?.display).toBe('Dr Gregory M House');
    expect(xcnToPractitioner(rep('^Carter^John'))?.identifier).toBeUndefined();
  });
  test('PL → the most granular Location, keyed by the whole path', () => {
    const l = plToLocation(rep('ED^BAY04^A^GENHOSP'));
    expect(l?.identifier).toEqual({ system: 'https://emergisphere.dev/fhir/sid/hl7v2-location', value: 'GENHOSP^ED^BAY04^A' });
    expect(l?.location.physicalType?.coding?.[0].code).toBe('bd');
    expect(l?.display).toBe('ED BAY04 A');
    expect(l?.area?.identifier.value).toBe('GENHOSP^ED^^');
    expect(l?.area?.location.physicalType?.coding?.[0].code).toBe('wa');
    expect(plToLocation(rep('ED'))?.location.physicalType?.coding?.[0].code).toBe('wa');
    expect(plToLocation(rep('ED'))?.area).toBeUndefined();
  });
  test('EI → Identifier with type', () => {
    expect(eiToIdentifier(rep('LAB5001^LAB^2.16.840.1.1^ISO'), 'FILL')).toEqual({
      system: 'urn:oid:2.16.840.1.1',
      value: 'LAB5001',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] },
    });
  });
});
