import type { Encounter, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';
import { createOnce, IDEMPOTENCY_TAG_SYSTEM, idempotencyKey, withIdempotencyTag } from './idempotency.ts';

describe('idempotencyKey', () => {
  const enc: Encounter = { resourceType: 'Encounter', id: 'e1', meta: { versionId: 'v1' }, status: 'arrived', class: { code: 'EMER' } };
  test('one key per bot, effect and trigger version', () => {
    expect(idempotencyKey('triage', enc)).toBe('triage:default:Encounter/e1/_history/v1');
    expect(idempotencyKey('triage', enc, 'esi')).not.toBe(idempotencyKey('triage', enc, 'news2'));
    expect(idempotencyKey('triage', { ...enc, meta: { versionId: 'v2' } })).not.toBe(idempotencyKey('triage', enc));
    expect(() => idempotencyKey('triage', { ...enc, meta: {} })).toThrow(/versionId/);
  });
  test('the tag replaces an earlier idempotency tag and keeps others', () => {
    const r = withIdempotencyTag(
      {
        ...enc,
        meta: {
          tag: [
            { system: 'x', code: 'y' },
            { system: IDEMPOTENCY_TAG_SYSTEM, code: 'old' },
          ],
        },
      },
      'k',
    );
    expect(r.meta?.tag).toEqual([
      { system: 'x', code: 'y' },
      { system: IDEMPOTENCY_TAG_SYSTEM, code: 'k' },
    ]);
  });
});

describe('createOnce against the server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  test('a redelivered event creates its effect once; a new version creates a new one', async () => {
    const enc = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    const effect: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'ESI' }, valueInteger: 2 };
    const first = await createOnce(t.medplum, { bot: 'triage', trigger: enc, effect: 'esi', resource: effect });
    const again = await createOnce(t.medplum, { bot: 'triage', trigger: enc, effect: 'esi', resource: effect });
    expect(again.id).toBe(first.id);
    const enc2 = await t.medplum.updateResource<Encounter>({ ...enc, status: 'triaged' });
    const third = await createOnce(t.medplum, { bot: 'triage', trigger: enc2, effect: 'esi', resource: effect });
    expect(third.id).not.toBe(first.id);
    for (const trigger of [enc, enc2]) {
      const tag = `${IDEMPOTENCY_TAG_SYSTEM}|${idempotencyKey('triage', trigger, 'esi')}`;
      const found = await t.medplum.searchResources('Observation', { _tag: tag }, { cache: 'no-cache' });
      expect(found).toHaveLength(1);
    }
  });

  test('concurrent runs for the same version (two instances, a replay racing a retry) create the effect once', async () => {
    const enc = await t.medplum.createResource<Encounter>({ resourceType: 'Encounter', status: 'arrived', class: { code: 'EMER' } });
    const effect: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'ESI' }, valueInteger: 3 };
    const clients = Array.from({ length: 8 }, () => t.newClient());
    const created = await Promise.all(clients.map((c) => createOnce(c, { bot: 'triage', trigger: enc, effect: 'race', resource: effect })));
    expect(new Set(created.map((r) => r.id)).size).toBe(1);
    const tag = `${IDEMPOTENCY_TAG_SYSTEM}|${idempotencyKey('triage', enc, 'race')}`;
    expect(await t.medplum.searchResources('Observation', { _tag: tag }, { cache: 'no-cache' })).toHaveLength(1);
  });
});
