import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Encounter, SearchParameter } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/server.ts';
import { fetchJson, outcomeText, SearchKit } from './search-test-kit.ts';

const EXT = 'http://emergisphere.example/StructureDefinition';
const ACT_PRIORITY = 'http://terminology.hl7.org/CodeSystem/v3-ActPriority';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

function profilesDir(params: SearchParameter[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'es-profiles-'));
  dirs.push(dir);
  params.forEach((sp, i) => {
    writeFileSync(join(dir, `sp-${i}-${sp.code}.json`), JSON.stringify(sp));
  });
  return dir;
}

function searchParameter(code: string, type: SearchParameter['type'], expression: string): SearchParameter {
  return {
    resourceType: 'SearchParameter',
    url: `http://emergisphere.example/SearchParameter/encounter-${code}`,
    name: code,
    status: 'active',
    description: `Encounter ${code}`,
    code,
    base: ['Encounter'],
    type,
    expression,
  };
}

function encounter(extra: Partial<Encounter>): Encounter {
  return {
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    ...extra,
  };
}

describe('custom SearchParameters from the profiles directory', () => {
  let t: TestServer;
  let k: SearchKit;

  afterAll(async () => {
    await t?.close();
  });

  test('are indexed and searchable like built-in ones', async () => {
    t = await startTestServer({
      profilesDir: profilesDir([
        searchParameter('priority', 'token', 'Encounter.priority'),
        searchParameter('arrival-mode', 'token', `Encounter.extension('${EXT}/arrival-mode').value`),
        searchParameter('esi-level', 'number', `Encounter.extension.where(url = '${EXT}/esi-level').value`),
      ]),
    });
    k = new SearchKit(t, 'custom');
    const esi = (level: number) => ({ url: `${EXT}/esi-level`, valueInteger: level });
    const mode = (code: string) => ({ url: `${EXT}/arrival-mode`, valueCodeableConcept: { coding: [{ system: 'urn:arrival', code }] } });
    await k.create(
      'em',
      encounter({ priority: { coding: [{ system: ACT_PRIORITY, code: 'EM' }] }, extension: [esi(2), mode('ambulance')] }),
    );
    await k.create(
      'routine',
      encounter({ priority: { coding: [{ system: ACT_PRIORITY, code: 'R' }] }, extension: [esi(4), mode('walk-in')] }),
    );
    await k.create('unknown', encounter({ extension: [esi(5)] }));

    expect(await k.labels('Encounter', `priority=${ACT_PRIORITY}|EM`)).toEqual(['em']);
    expect(await k.labels('Encounter', 'priority=R')).toEqual(['routine']);
    expect(await k.labels('Encounter', 'priority:missing=true')).toEqual(['unknown']);
    expect(await k.labels('Encounter', 'priority:not=EM')).toEqual(['routine', 'unknown']);
    expect(await k.labels('Encounter', 'arrival-mode=urn:arrival|ambulance')).toEqual(['em']);
    expect(await k.labels('Encounter', 'arrival-mode=walk-in,ambulance')).toEqual(['em', 'routine']);
    expect(await k.labels('Encounter', 'esi-level=2')).toEqual(['em']);
    expect(await k.labels('Encounter', 'esi-level=le4')).toEqual(['em', 'routine']);
    expect(await k.labels('Encounter', 'esi-level=gt4')).toEqual(['unknown']);
    expect(k.matchLabels(await k.search('Encounter', '_sort=-esi-level'))).toEqual(['unknown', 'routine', 'em']);
    // Known now, so strict handling accepts them.
    expect(k.matchLabels(await k.search('Encounter', 'priority=EM', { Prefer: 'handling=strict' }))).toEqual(['em']);
    // Updates re-index: the new value is found, the old one no longer.
    const routine = await t.medplum.readResource('Encounter', k.id('routine'));
    await t.medplum.updateResource({ ...routine, priority: { coding: [{ system: ACT_PRIORITY, code: 'EM' }] } });
    expect(await k.labels('Encounter', 'priority=EM')).toEqual(['em', 'routine']);
    expect(await k.labels('Encounter', 'priority=R')).toEqual([]);
  });

  test('a broken SearchParameter file stops the start, naming the file', async () => {
    const dir = profilesDir([searchParameter('broken', 'token', 'Encounter.where(')]);
    await expect(startTestServer({ profilesDir: dir })).rejects.toThrow(/sp-0-broken\.json.*FHIRPath/);
  });
});

describe('reindex at start', () => {
  test('a parameter added after data exists is indexed at the next start, for that type only', async () => {
    const bedParam = searchParameter('bed', 'string', `Encounter.extension('${EXT}/bed').value`);
    const first = await startTestServer({ profilesDir: profilesDir([]) }, { keepDatabase: true });
    let second: TestServer | undefined;
    try {
      const k1 = new SearchKit(first, 'reindex');
      const bed = (value: string) => ({ extension: [{ url: `${EXT}/bed`, valueString: value }] });
      await k1.create('bed1', encounter(bed('ED-1')));
      await k1.create('bed12', encounter(bed('ED-12')));
      await k1.create('bed2', encounter(bed('ED-2')));
      await k1.create('noBed', encounter({}));
      // Unknown to the first server: strict handling refuses it.
      const refused = await fetchJson(`${first.fhirUrl}Encounter?bed=ED-1`, { headers: { Prefer: 'handling=strict' } });
      expect(refused.status).toBe(400);
      expect(outcomeText(refused.body)).toContain('bed');
      await first.close();

      const before = new Date();
      second = await startTestServer(
        { profilesDir: profilesDir([bedParam]) },
        { databaseUrl: first.databaseUrl, clientSecret: first.admin.clientSecret },
      );
      const k2 = new SearchKit(second, 'reindex');
      // Same ids, same data: only the index is new.
      expect(await k2.t.medplum.searchResources('Encounter', 'bed=ed-1&_count=100')).toHaveLength(2);
      const labels = (await k2.t.medplum.searchResources('Encounter', 'bed:exact=ED-1&_count=100')).map((r) => r.id);
      expect(labels).toEqual([k1.id('bed1')]);
      expect((await k2.t.medplum.searchResources('Encounter', 'bed:missing=true&_count=100')).map((r) => r.id)).toEqual([k1.id('noBed')]);

      const db = new pg.Client({ connectionString: first.databaseUrl });
      await db.connect();
      try {
        const { rows } = await db.query<{ resource_type: string }>(
          'SELECT resource_type FROM search_index_state WHERE updated_at >= $1 ORDER BY 1',
          [before],
        );
        expect(rows.map((r) => r.resource_type)).toEqual(['Encounter']);
      } finally {
        await db.end();
      }
    } finally {
      await second?.close();
      await first.dropDatabase();
    }
  });
});
