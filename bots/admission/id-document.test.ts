import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { compareWithRecord, printedDate, readIdentity } from './id-document.ts';

const today = new Date('2025-04-27T00:00:00Z');
const luc: Patient = { resourceType: 'Patient', name: [{ family: 'Moreau', given: ['Luc'] }], birthDate: '1996-02-03' };

describe('readIdentity', () => {
  test('printed labels of a US licence as OCR reads them', () => {
    const id = readIdentity('CALIFORNIA\nDRIVER LICENSE\nDL D1234567\nLN MOREAU\nFN LUC\nDOB 02/03/1996\n', today);
    expect(id).toEqual({ source: 'printed', family: 'MOREAU', given: 'LUC', birthDate: '1996-02-03', documentNumber: 'D1234567' });
  });
  test('a passport MRZ (with the century inferred) wins over print', () => {
    const id = readIdentity(
      'Surname: Something else\nP<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n',
      today,
    );
    expect(id).toMatchObject({
      source: 'mrz',
      family: 'ERIKSSON',
      given: 'ANNA MARIA',
      birthDate: '1974-08-12',
      documentNumber: 'L898902C3',
    });
  });
  test('AAMVA PDF417 text of a driver licence (MMDDCCYY)', () => {
    const id = readIdentity(
      '@\n\x1e\rANSI 636014080102DL00410278ZC03200024DLDAQD1234567\nDCSMOREAU\nDACLUC\nDBB02031996\nDBA02032030\n',
      today,
    );
    expect(id).toEqual({ source: 'barcode', family: 'MOREAU', given: 'LUC', birthDate: '1996-02-03', documentNumber: 'D1234567' });
  });
  test('dates: ISO, US, European, month names', () => {
    expect(printedDate('1996-02-03')).toBe('1996-02-03');
    expect(printedDate('03.02.1996')).toBe('1996-02-03');
    expect(printedDate('03 FEB 1996')).toBe('1996-02-03');
    expect(printedDate('25/12/1996')).toBe('1996-12-25');
  });
  test('nothing recognisable', () => {
    expect(readIdentity('blurry photo of a cat')).toBeUndefined();
  });
});

describe('compareWithRecord', () => {
  test('the same person, accents and case aside', () => {
    expect(compareWithRecord({ source: 'printed', family: 'MOREAU', given: 'LUC', birthDate: '1996-02-03' }, luc)).toMatchObject({
      matches: true,
      mismatches: [],
    });
  });
  test('a different birth date and name are reported', () => {
    const check = compareWithRecord({ source: 'printed', family: 'MOREAU', given: 'PAUL', birthDate: '1996-03-02' }, luc);
    expect(check.matches).toBe(false);
    expect(check.mismatches).toEqual([
      'given name on the document is "PAUL", the record has "luc"',
      'birth date on the document is 1996-03-02, the record has 1996-02-03',
    ]);
  });
});
