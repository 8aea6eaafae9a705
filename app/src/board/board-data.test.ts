import type { Encounter, Flag, Observation, Patient, Task } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { ESI_SYSTEM, OBSERVATION_CODE_SYSTEM, STEP_SYSTEM } from '../codes.ts';
import { ageOf, buildRows, emptyInput, filterRows, formatDuration, sortRows } from './board-data.ts';
import { applyResource } from './load-board.ts';

const NOW = new Date('2025-06-01T12:00:00Z');

function encounter(id: string, esi: number | undefined, start: string, extra: Partial<Encounter> = {}): Encounter {
  return {
    resourceType: 'Encounter',
    id,
    status: 'arrived',
    class: { code: 'EMER' },
    subject: { reference: `Patient/p-${id}` },
    period: { start },
    ...(esi ? { priority: { coding: [{ system: ESI_SYSTEM, code: String(esi) }] } } : {}),
    ...extra,
  };
}

describe('board rows', () => {
  test('most acute first, then longest wait; untriaged patients rank between ESI 2 and 3', () => {
    const input = emptyInput();
    input.encounters = [
      encounter('a', 3, '2025-06-01T10:00:00Z'),
      encounter('b', 1, '2025-06-01T11:30:00Z'),
      encounter('c', 3, '2025-06-01T09:00:00Z'),
      encounter('d', undefined, '2025-06-01T11:55:00Z'),
      encounter('e', 2, '2025-06-01T11:00:00Z'),
    ];
    expect(buildRows(input, NOW).map((r) => r.encounterId)).toEqual(['b', 'e', 'd', 'c', 'a']);
  });

  test('name, age, sex, NEWS2, door-to-triage and workflow marks come from the linked resources', () => {
    const input = emptyInput();
    input.encounters = [encounter('a', 2, '2025-06-01T11:00:00Z', { reasonCode: [{ text: 'chest pain' }] })];
    input.patients = [
      {
        resourceType: 'Patient',
        id: 'p-a',
        name: [{ given: ['Luc'], family: 'Moreau' }],
        birthDate: '1968-03-14',
        gender: 'male',
      } as Patient,
    ];
    const obs = (kind: string, at: string, extra: Partial<Observation>): Observation => ({
      resourceType: 'Observation',
      id: `${kind}-${at}`,
      status: 'final',
      code: { coding: [{ system: OBSERVATION_CODE_SYSTEM, code: kind }] },
      encounter: { reference: 'Encounter/a' },
      effectiveDateTime: at,
      ...extra,
    });
    input.observations = [
      obs('esi', '2025-06-01T11:20:00Z', { valueCodeableConcept: { coding: [{ system: ESI_SYSTEM, code: '3' }] } }),
      obs('esi', '2025-06-01T11:07:00Z', { valueCodeableConcept: { coding: [{ system: ESI_SYSTEM, code: '2' }] } }),
      obs('news2', '2025-06-01T11:07:00Z', { valueInteger: 6, interpretation: [{ text: 'medium' }] }),
    ];
    const task = (id: string, step: string, status: Task['status']): Task => ({
      resourceType: 'Task',
      id,
      status,
      intent: 'order',
      code: { coding: [{ system: STEP_SYSTEM, code: step }] },
      encounter: { reference: 'Encounter/a' },
      ...(status === 'failed' ? { statusReason: { text: 'no agent' } } : {}),
    });
    input.tasks = [task('t2', 'billing', 'failed'), task('t1', 'triage', 'completed')];
    const [row] = buildRows(input, NOW);
    expect(row).toMatchObject({
      name: 'Luc Moreau',
      age: '57y',
      sex: 'M',
      complaint: 'chest pain',
      esi: 2,
      news2: 6,
      triagedAt: '2025-06-01T11:07:00Z',
    });
    expect(row.steps).toEqual([
      { code: 'triage', status: 'completed', note: undefined },
      { code: 'billing', status: 'failed', note: 'no agent' },
    ]);
  });

  test('alerts: active Flags of the encounter or of its patient (without an encounter); restricted ones are marked', () => {
    const input = emptyInput();
    input.encounters = [encounter('a', 2, '2025-06-01T11:00:00Z'), encounter('b', 3, '2025-06-01T11:00:00Z')];
    const flag = (id: string, extra: Partial<Flag>): Flag => ({
      resourceType: 'Flag',
      id,
      status: 'active',
      code: { text: id },
      subject: { reference: 'Patient/p-a' },
      ...extra,
    });
    input.flags = [
      flag('critical SpO2', {}),
      flag('legal', { encounter: { reference: 'Encounter/a' }, meta: { security: [{ code: 'R' }] } }),
      flag('old', { status: 'inactive' }),
      flag('other visit', { encounter: { reference: 'Encounter/zzz' } }),
    ];
    const rows = buildRows(input, NOW);
    const a = rows.find((r) => r.encounterId === 'a');
    expect(a?.alerts.map((x) => [x.text, x.restricted])).toEqual([
      ['critical SpO2', false],
      ['legal', true],
    ]);
    expect(rows.find((r) => r.encounterId === 'b')?.alerts).toEqual([]);
  });

  test('filters, durations and ages', () => {
    const rows = sortRows([
      { encounterId: 'x', status: 'arrived', area: 'Resus', name: 'x', temporaryIdentity: false, staff: [], steps: [], alerts: [] },
      { encounterId: 'y', status: 'triaged', name: 'y', temporaryIdentity: false, staff: [], steps: [], alerts: [] },
    ]);
    expect(filterRows(rows, { area: 'Unassigned' }).map((r) => r.encounterId)).toEqual(['y']);
    expect(filterRows(rows, { status: 'arrived' }).map((r) => r.encounterId)).toEqual(['x']);
    expect(formatDuration(65 * 60_000)).toBe('1h 05m');
    expect(formatDuration(-1)).toBe('—');
    expect(ageOf('2024-12-15', NOW)).toBe('5m');
    expect(ageOf('2025-05-25', NOW)).toBe('7d');
  });

  test('a notified resource is applied in place; a new arrival or a finished encounter is handled', () => {
    const input = emptyInput();
    input.encounters = [encounter('a', 3, '2025-06-01T11:00:00Z')];
    input.patients = [{ resourceType: 'Patient', id: 'p-a' }];
    const raised = applyResource(input, encounter('a', 1, '2025-06-01T11:00:00Z'));
    expect(raised && buildRows(raised, NOW)[0].esi).toBe(1);
    expect(applyResource(input, encounter('new', 2, '2025-06-01T11:00:00Z'))).toBeUndefined();
    expect(applyResource(input, encounter('a', 3, '2025-06-01T11:00:00Z', { status: 'finished' }))?.encounters).toEqual([]);
  });
});
