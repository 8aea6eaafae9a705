import type { OperationDefinition } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { buildOutput, chooseDefinition, IMPLEMENTATION_EXTENSION, operationTarget } from './custom.ts';

function definition(partial: Partial<OperationDefinition>, bot = 'Bot/b1'): OperationDefinition {
  return {
    resourceType: 'OperationDefinition',
    name: 'x',
    status: 'active',
    kind: 'operation',
    code: 'x',
    system: false,
    type: false,
    instance: false,
    extension: [{ url: IMPLEMENTATION_EXTENSION, valueReference: { reference: bot } }],
    ...partial,
  };
}

describe('operationTarget', () => {
  test('instance, type and system levels; anything else is not an operation', () => {
    expect(operationTarget(['Encounter', '1', '$go'])).toEqual({
      code: 'go',
      target: { level: 'instance', resourceType: 'Encounter', id: '1' },
    });
    expect(operationTarget(['Encounter', '$go'])).toEqual({ code: 'go', target: { level: 'type', resourceType: 'Encounter' } });
    expect(operationTarget(['$go'])).toEqual({ code: 'go', target: { level: 'system' } });
    expect(operationTarget(['Encounter', '1'])).toBeUndefined();
    expect(operationTarget(['Encounter', '$go', 'more'])).toBeUndefined();
  });
});

describe('chooseDefinition', () => {
  test('prefers the definition for this level and resource type; ignores definitions without a bot', () => {
    const forPatient = definition({ instance: true, resource: ['Patient'] }, 'Bot/patient');
    const forEncounter = definition({ instance: true, resource: ['Encounter'] }, 'Bot/encounter');
    const noBot = { ...definition({ instance: true, resource: ['Encounter'] }), extension: [] };
    const chosen = chooseDefinition([forPatient, noBot, forEncounter], { level: 'instance', resourceType: 'Encounter', id: '1' });
    expect(chosen?.bot.reference).toBe('Bot/encounter');
    expect(chooseDefinition([noBot], { level: 'system' })).toBeUndefined();
  });

  test('a lone definition still answers at another level (as in Medplum)', () => {
    const typeOnly = definition({ type: true, resource: ['Encounter'] });
    expect(chooseDefinition([typeOnly], { level: 'instance', resourceType: 'Encounter', id: '1' })?.bot.reference).toBe('Bot/b1');
  });
});

describe('buildOutput', () => {
  test('a single `return` parameter returns the resource itself, and checks its type', () => {
    const def = definition({ parameter: [{ name: 'return', use: 'out', min: 1, max: '1', type: 'RequestGroup' }] });
    const group = { resourceType: 'RequestGroup', status: 'active', intent: 'order' };
    expect(buildOutput(def, group)).toBe(group);
    expect(() => buildOutput(def, { resourceType: 'Patient' })).toThrow(/must return RequestGroup/);
  });

  test('named out-parameters are read from the returned object; a missing required one is an error', () => {
    const def = definition({
      parameter: [
        { name: 'action', use: 'out', min: 1, max: '1', type: 'code' },
        { name: 'changed', use: 'out', min: 0, max: '*', type: 'string' },
      ],
    });
    expect(buildOutput(def, { action: 'skip', changed: ['Task/1', 'Task/2'] })).toEqual({
      resourceType: 'Parameters',
      parameter: [
        { name: 'action', valueCode: 'skip' },
        { name: 'changed', valueString: 'Task/1' },
        { name: 'changed', valueString: 'Task/2' },
      ],
    });
    expect(() => buildOutput(def, { changed: [] })).toThrow(/required parameter action/);
  });

  test('a Parameters result passes through unchanged', () => {
    const params = { resourceType: 'Parameters', parameter: [{ name: 'anything', valueString: 'x' }] };
    expect(buildOutput(definition({}), params)).toBe(params);
  });
});
