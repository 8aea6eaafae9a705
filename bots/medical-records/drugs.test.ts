import { describe, expect, test } from 'vitest';
import { compileDrugTable, type DrugTable, defaultDrugTable, normalizeName, RXNORM, SNOMED } from './drugs.ts';

const drugs = defaultDrugTable();

describe('the drug table', () => {
  test('the shipped table is valid', () => {
    expect(drugs.table.drugs.length).toBeGreaterThan(40);
    expect(drugs.classesOf('amoxicillin')).toEqual(['penicillins']);
  });

  test('a bad edit fails at load, naming every problem', () => {
    const bad: DrugTable = {
      version: 'x',
      drugs: [
        { id: 'a', display: 'A', names: ['alpha'], classes: ['nope'] },
        { id: 'b', display: 'B', names: ['Alpha'], ingredients: ['zzz'], rxnorm: ['R12'] },
      ],
      classes: [],
    };
    expect(() => compileDrugTable(bad)).toThrow(/unknown class nope.*unknown ingredient zzz.*RxNorm R12.*"Alpha" belongs to both/s);
  });

  test('codes first: RxNorm ingredient and SNOMED allergy concepts', () => {
    expect(drugs.identify({ coding: [{ system: RXNORM, code: '723' }] })).toMatchObject({
      ingredients: ['amoxicillin'],
      via: ['RxNorm 723'],
    });
    expect(drugs.identify({ coding: [{ system: SNOMED, code: '91936005', display: 'Allergy to penicillin' }] })).toMatchObject({
      ingredients: [],
      classes: ['penicillins'],
    });
  });

  test('names on word boundaries, the longest first; combinations expand to their ingredients', () => {
    expect(drugs.identify({ text: 'Penicillin G benzathine 1.2 MU IM' }).ingredients).toEqual(['penicillin-g']);
    expect(drugs.identify({ text: 'penicillin' })).toMatchObject({ ingredients: [], classes: ['penicillins'] });
    expect(drugs.identify({ text: 'Augmentin 875 mg' }).ingredients.sort()).toEqual(['amoxicillin', 'clavulanate']);
    expect(drugs.identify({ text: 'Co-Amoxiclav' }).ingredients).toContain('amoxicillin');
    expect(drugs.identify({ text: 'Percocet 5/325' }).ingredients.sort()).toEqual(['acetaminophen', 'oxycodone']);
    // "aspirinated" is not aspirin; "Sulfa drugs" is the sulfonamide class.
    expect(drugs.identify({ text: 'aspirinated gum' }).ingredients).toEqual([]);
    expect(drugs.identify({ text: 'Sulfa drugs' }).classes).toEqual(['sulfonamide-antibiotics']);
    expect(drugs.identify(undefined)).toEqual({ ingredients: [], classes: [], via: [] });
  });

  test('normalisation', () => {
    expect(normalizeName('  Co-Amoxiclav 625mg ')).toBe('co amoxiclav 625mg');
    expect(normalizeName('Céfalexine')).toBe('cefalexine');
  });
});
