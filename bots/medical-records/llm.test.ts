import type { Composition } from '@medplum/fhirtypes';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type FakeOpenAi, startFakeOpenAi } from '../../test/fakes/openai.ts';
import { aiSummaryDocument, checkAnswer, labelledText, sourcesOf, summarizeWithLlm } from './llm.ts';
import { narrative } from './summary.ts';

const composition: Composition = {
  resourceType: 'Composition',
  status: 'final',
  type: { text: 'Patient summary' },
  date: '2025-01-01',
  author: [{ display: 'agent' }],
  title: 'Patient summary',
  section: [
    {
      title: 'Allergies',
      text: { status: 'generated', div: narrative(['Penicillin (anaphylaxis)'], '') },
      entry: [{ reference: 'AllergyIntolerance/a1' }],
    },
    {
      title: 'Active problems',
      text: { status: 'generated', div: narrative(['Asthma & COPD', 'Diabetes'], '') },
      entry: [{ reference: 'Condition/c1' }, { reference: 'Condition/c2' }],
    },
    { title: 'Procedures', text: { status: 'generated', div: narrative([], 'none') }, emptyReason: { text: 'none' } },
  ],
};

describe('AI summary', () => {
  let fake: FakeOpenAi;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAi();
    client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await fake?.close();
  });

  test('sources are the summary lines with their references', () => {
    expect(sourcesOf(composition)).toEqual([
      { tag: 'S1', reference: 'AllergyIntolerance/a1', section: 'Allergies', text: 'Penicillin (anaphylaxis)' },
      { tag: 'S2', reference: 'Condition/c1', section: 'Active problems', text: 'Asthma & COPD' },
      { tag: 'S3', reference: 'Condition/c2', section: 'Active problems', text: 'Diabetes' },
    ]);
  });

  test('only answers citing the given sources are kept', () => {
    const sources = sourcesOf(composition);
    expect(checkAnswer('Penicillin anaphylaxis [S1]; asthma [S2].', sources)).toMatchObject({ ok: true, cited: [sources[0], sources[1]] });
    expect(checkAnswer('Penicillin anaphylaxis [S9].', sources)).toEqual({ ok: false, reason: 'answer cites unknown sources S9' });
    expect(checkAnswer('No citations here.', sources)).toEqual({ ok: false, reason: 'answer cites no source' });
    expect(checkAnswer('  ', sources)).toEqual({ ok: false, reason: 'empty answer' });
  });

  test('through the real SDK: facts without identifiers go out, a labelled document with its sources comes back', async () => {
    fake.setBehaviour({ kind: 'content', content: 'Anaphylaxis to penicillin [S1]. Asthma and COPD [S2].' });
    const sources = sourcesOf(composition);
    const outcome = await summarizeWithLlm(sources, { client, model: 'gpt-test' });
    expect(outcome.ok).toBe(true);
    const sent = fake.requests.at(-1)?.body as { model: string; messages: { role: string; content: string }[] };
    expect(sent.model).toBe('gpt-test');
    expect(sent.messages[1].content).toBe(
      '[S1] Allergies: Penicillin (anaphylaxis)\n[S2] Active problems: Asthma & COPD\n[S3] Active problems: Diabetes',
    );
    if (!outcome.ok) return;
    const doc = aiSummaryDocument(outcome.text, outcome.cited, {
      patient: { reference: 'Patient/p' },
      composition: { reference: 'Composition/c' },
      model: 'gpt-test',
      now: '2025-01-01T00:00:00Z',
    });
    const text = Buffer.from(doc.content[0].attachment.data as string, 'base64').toString('utf8');
    expect(text).toBe(labelledText(outcome.text, outcome.cited, 'gpt-test', '2025-01-01T00:00:00Z'));
    expect(text).toMatch(/^AI-GENERATED SUMMARY \(gpt-test/);
    expect(text).toMatch(/Sources:\n\[S1\] AllergyIntolerance\/a1 — Allergies: Penicillin \(anaphylaxis\)\n\[S2\] Condition\/c1/);
    expect(doc.meta?.tag?.[0].code).toBe('ai-generated');
    expect(doc.context?.related?.map((r) => r.reference)).toEqual(['Composition/c', 'AllergyIntolerance/a1', 'Condition/c1']);
  });

  test('errors and timeouts give no summary, with the reason', async () => {
    fake.setBehaviour({ kind: 'status', status: 500 });
    expect(await summarizeWithLlm(sourcesOf(composition), { client, model: 'm' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/HTTP 500/),
    });
    fake.setBehaviour({ kind: 'hang' });
    expect(await summarizeWithLlm(sourcesOf(composition), { client, model: 'm', timeoutMs: 200 })).toEqual({
      ok: false,
      reason: 'timed out after 200 ms',
    });
    expect(await summarizeWithLlm([], { client, model: 'm' })).toEqual({ ok: false, reason: 'nothing recorded to summarise' });
  });
});
