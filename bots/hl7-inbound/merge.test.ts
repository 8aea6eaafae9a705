import type { Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { Message } from '../../hl7-bridge/hl7v2/message.ts';
import { corpus } from '../../hl7-bridge/test-corpus/messages.ts';
import { mergedPatients, moveReferences, planMerge } from './merge.ts';
import { mergeResource, sameContent, withMessageTags } from './merge-resource.ts';

describe('A40 merge', () => {
  test('survivor from PID, merged patient from MRG-1', () => {
    const step = planMerge(Message.parse(corpus.adtA40));
    expect(step.survivor.map((i) => i.value)).toEqual(['000123456']);
    expect(step.old).toEqual([expect.objectContaining({ system: 'https://emergisphere.dev/fhir/sid/hl7v2/GENHOSP', value: '000999' })]);
  });
  test('MRG-1 naming the survivor itself is refused', () => {
    expect(() => planMerge(Message.parse(corpus.adtA40.replace('MRG|000999', 'MRG|000123456')))).toThrow(/surviving patient itself/);
  });
  test('links both ways, old identifiers move to the survivor, and a second merge changes nothing', () => {
    const survivor: Patient & { id: string } = { resourceType: 'Patient', id: 's', identifier: [{ system: 'x', value: '1' }] };
    const old: Patient & { id: string } = { resourceType: 'Patient', id: 'o', identifier: [{ system: 'x', value: '2' }] };
    const once = mergedPatients(survivor, old);
    expect(once.old).toMatchObject({ active: false, link: [{ other: { reference: 'Patient/s' }, type: 'replaced-by' }] });
    expect(once.survivor.link).toEqual([{ other: { reference: 'Patient/o' }, type: 'replaces' }]);
    expect(once.survivor.identifier).toEqual([
      { system: 'x', value: '1' },
      { system: 'x', value: '2', use: 'old' },
    ]);
    const twice = mergedPatients({ ...(once.survivor as Patient & { id: string }) }, { ...(once.old as Patient & { id: string }) });
    expect(twice).toEqual(once);
  });
  test('references move', () => {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/o' },
      performer: [{ reference: 'Patient/o1' }],
    };
    expect(moveReferences(obs, 'Patient/o', 'Patient/s')).toMatchObject({
      subject: { reference: 'Patient/s' },
      performer: [{ reference: 'Patient/o1' }],
    });
  });
});

describe('merging a message into a stored resource', () => {
  const stored: Encounter = {
    resourceType: 'Encounter',
    id: 'e1',
    meta: { versionId: '1', tag: [{ system: 'https://emergisphere.dev/fhir/triage', code: 'x' }] },
    identifier: [{ system: 'v', value: '1' }],
    status: 'in-progress',
    class: { code: 'EMER' },
    priority: { coding: [{ code: 'UR' }] },
    location: [{ location: { reference: 'Location/bay1' }, status: 'active' }],
    period: { start: '2026-01-05T08:00:00Z', end: '2026-01-05T09:00:00Z' },
  };
  test('what the message values replaces; what it leaves out stays (triage priority); identifiers unite', () => {
    const merged = mergeResource(stored, {
      resourceType: 'Encounter',
      identifier: [{ system: 'alt', value: '9' }],
      status: 'finished',
      class: { code: 'EMER' },
      location: [{ location: { reference: 'Location/bay5' }, status: 'active' }],
    });
    expect(merged.status).toBe('finished');
    expect(merged.priority).toEqual(stored.priority);
    expect(merged.identifier).toEqual([
      { system: 'v', value: '1' },
      { system: 'alt', value: '9' },
    ]);
    expect(merged.location).toEqual([
      { location: { reference: 'Location/bay1' }, status: 'completed' },
      { location: { reference: 'Location/bay5' }, status: 'active' },
    ]);
    expect(merged.meta).toEqual(stored.meta);
  });
  test('extensions are united by URL', () => {
    const withExt = {
      ...stored,
      extension: [
        { url: 'a', valueString: 'kept' },
        { url: 'b', valueString: 'old' },
      ],
    };
    const merged = mergeResource(withExt, {
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { code: 'EMER' },
      extension: [{ url: 'b', valueString: 'new' }],
    });
    expect(merged.extension).toEqual([
      { url: 'a', valueString: 'kept' },
      { url: 'b', valueString: 'new' },
    ]);
  });

  test('clear removes nested elements; choice types replace each other', () => {
    expect(
      mergeResource(stored, { resourceType: 'Encounter', status: 'in-progress', class: { code: 'EMER' } }, ['period.end']).period,
    ).toEqual({
      start: '2026-01-05T08:00:00Z',
    });
    const p = mergeResource<Patient>(
      { resourceType: 'Patient', deceasedBoolean: false },
      { resourceType: 'Patient', deceasedDateTime: '2026-01-05' },
    );
    expect(p).toEqual({ resourceType: 'Patient', deceasedDateTime: '2026-01-05' });
  });
  test('the provenance tags do not count as a change; other content does', () => {
    const tagged = { ...stored, meta: withMessageTags(stored.meta, 'EPIC^GENHOSP^2', '2026-01-05T10:00:00.000Z') };
    expect(tagged.meta.tag?.map((t) => t.system)).toEqual([
      'https://emergisphere.dev/fhir/triage',
      'https://emergisphere.dev/fhir/hl7v2-message',
      'https://emergisphere.dev/fhir/hl7v2-message-time',
    ]);
    expect(sameContent(tagged, stored)).toBe(true);
    expect(sameContent({ ...stored, status: 'finished' }, stored)).toBe(false);
  });
});
