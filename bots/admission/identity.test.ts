import type { Encounter, Observation, Patient, Provenance } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { TEMPORARY_IDENTITY_TAG } from './codes.ts';
import { mergePlan, needsTemporaryIdentity, temporaryNumber, withTemporaryIdentity } from './identity.ts';

describe('temporary identity', () => {
  test('an arrival with nothing to identify them by gets "Trauma Unknown NNNN", tagged, once', () => {
    const p = { resourceType: 'Patient', id: 'abc', gender: 'male' } as Patient & { id: string };
    expect(needsTemporaryIdentity(p)).toBe(true);
    const temp = withTemporaryIdentity(p);
    expect(temp.name?.[0].text).toBe(`Trauma Unknown ${temporaryNumber('abc')}`);
    expect(temp.meta?.tag).toContainEqual(TEMPORARY_IDENTITY_TAG);
    expect(needsTemporaryIdentity(temp)).toBe(false);
    expect(needsTemporaryIdentity({ resourceType: 'Patient', name: [{ family: 'Moreau', given: ['Luc'] }] })).toBe(false);
  });
});

describe('mergePlan', () => {
  const source = {
    resourceType: 'Patient',
    id: 'temp',
    meta: { versionId: '2' },
    identifier: [{ system: 'x', value: 'T1' }],
  } as Patient & { id: string };
  const target = { resourceType: 'Patient', id: 'real', meta: { versionId: '7' }, name: [{ family: 'Moreau' }] } as Patient & {
    id: string;
  };
  const encounter: Encounter = {
    resourceType: 'Encounter',
    id: 'e1',
    meta: { versionId: '3' },
    status: 'in-progress',
    class: { code: 'EMER' },
    subject: { reference: 'Patient/temp' },
  };
  const obs: Observation = {
    resourceType: 'Observation',
    id: 'o1',
    meta: { versionId: '1' },
    status: 'final',
    code: { text: 'HR' },
    subject: { reference: 'Patient/temp' },
    encounter: { reference: 'Encounter/e1' },
  };
  const unrelated: Observation = { ...obs, id: 'o2', subject: { reference: 'Patient/temporary-other' } };
  const plan = mergePlan({
    source,
    target,
    resources: [encounter, obs, unrelated, { resourceType: 'AuditEvent', id: 'a1' } as never, source],
    decidedBy: { reference: 'Practitioner/clerk' },
    bot: { reference: 'Bot/adm' },
    reason: 'identified by the family',
    now: '2025-04-27T10:00:00Z',
  });
  const entries = plan.bundle.entry ?? [];

  test('moves what referred to the temporary record, with If-Match, and leaves history alone', () => {
    expect(plan.moved).toEqual(['Encounter/e1', 'Observation/o1']);
    expect(entries[0]).toMatchObject({
      request: { method: 'PUT', url: 'Encounter/e1', ifMatch: 'W/"3"' },
      resource: { subject: { reference: 'Patient/real' } },
    });
    expect(entries.some((e) => e.request?.url === 'Observation/o2')).toBe(false);
  });
  test('links both records and carries identifiers over as old', () => {
    const merged = entries.find((e) => e.request?.url === 'Patient/temp')?.resource as Patient;
    const survivor = entries.find((e) => e.request?.url === 'Patient/real')?.resource as Patient;
    expect(merged.active).toBe(false);
    expect(merged.link).toEqual([{ other: { reference: 'Patient/real' }, type: 'replaced-by' }]);
    expect(survivor.link).toEqual([{ other: { reference: 'Patient/temp' }, type: 'replaces' }]);
    expect(survivor.identifier).toEqual([{ system: 'x', value: 'T1', use: 'old' }]);
  });
  test('records who decided and why', () => {
    const provenance = entries.find((e) => e.resource?.resourceType === 'Provenance')?.resource as Provenance;
    expect(provenance.reason?.[0].text).toBe('identified by the family');
    expect(provenance.agent.map((a) => a.who.reference)).toEqual(['Practitioner/clerk', 'Bot/adm']);
    expect(provenance.target.map((t) => t.reference)).toEqual(['Patient/temp', 'Patient/real', 'Encounter/e1', 'Observation/o1']);
    expect(entries.at(-1)?.resource?.resourceType).toBe('AuditEvent');
  });
});
