import { ContentType } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { compileBot, executeBody } from './bot-code.ts';

describe('executeBody', () => {
  test('FHIR JSON is parsed and needs a resourceType', () => {
    expect(executeBody('fhir', '{"resourceType":"Patient"}')).toEqual({
      body: { resourceType: 'Patient' },
      contentType: ContentType.FHIR_JSON,
    });
    expect(() => executeBody('fhir', '{"name":"x"}')).toThrow('resourceType');
    expect(() => executeBody('fhir', '{"resourceType":')).toThrow(SyntaxError);
  });

  test('JSON is parsed as is', () => {
    expect(executeBody('json', '[1, 2]')).toEqual({ body: [1, 2], contentType: ContentType.JSON });
  });

  test('HL7 segments typed on lines are joined with CR', () => {
    const { body, contentType } = executeBody('hl7', 'MSH|^~\\&|A\nPID|1\r\nPV1|1\n');
    expect(contentType).toBe('x-application/hl7-v2+er7');
    expect(body).toBe('MSH|^~\\&|A\rPID|1\rPV1|1');
  });

  test('text goes unchanged', () => {
    expect(executeBody('text', ' Ada \n')).toEqual({ body: ' Ada \n', contentType: ContentType.TEXT });
  });
});

describe('compileBot', () => {
  test('TypeScript with imports becomes CommonJS whose handler runs', async () => {
    const code = await compileBot(`import { getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';

export async function handler(_medplum: MedplumClient, event: BotEvent<{ id: string }>): Promise<string> {
  const ref: string = getReferenceString({ resourceType: 'Patient', id: event.input.id });
  return ref;
}
`);
    expect(code).not.toMatch(/^import /m);
    const module = { exports: {} as { handler?: (m: unknown, e: unknown) => Promise<string> } };
    const required: string[] = [];
    const fakeRequire = (name: string) => {
      required.push(name);
      return { getReferenceString: (r: { resourceType: string; id: string }) => `${r.resourceType}/${r.id}` };
    };
    new Function('module', 'exports', 'require', code)(module, module.exports, fakeRequire);
    expect(required).toEqual(['@medplum/core']);
    await expect(module.exports.handler?.({}, { input: { id: '7' } })).resolves.toBe('Patient/7');
  });

  test('a syntax error is reported, not deployed', async () => {
    await expect(compileBot('export async function handler( {')).rejects.toThrow();
  });
});
