/**
 * Optional AI-written summary of the structured patient summary, with the official `openai` SDK.
 *
 * The model sees only the summary's lines (no names or identifiers), each tagged [S1], [S2]…, and
 * must answer a short paragraph citing those tags. The result is labelled as AI-generated, lists
 * its sources, and never replaces the structured summary: it is a separate DocumentReference
 * pointing at the Composition. Timeouts, errors and answers citing unknown sources are dropped
 * (the structured summary stands) with a log line saying why.
 */

import type { Composition, DocumentReference, Encounter, Reference } from '@medplum/fhirtypes';
import OpenAI from 'openai';
import { ES } from '../lib/workflow.ts';

export const AI_SUMMARY_TIMEOUT_MS = 6000;
const MAX_SUMMARY = 2000;
const MAX_SOURCES = 60;

export const AI_TAG = { system: `${ES}/CodeSystem/content-origin`, code: 'ai-generated', display: 'AI-generated, not clinician-reviewed' };

export interface Source {
  tag: string;
  reference: string;
  section: string;
  text: string;
}

/** The summary's lines as numbered sources, read back from its narrative and entries. */
export function sourcesOf(composition: Composition): Source[] {
  const sources: Source[] = [];
  for (const s of composition.section ?? []) {
    const items = [...(s.text?.div ?? '').matchAll(/<li>(.*?)<\/li>/g)].map((m) => unescapeXhtml(m[1]));
    (s.entry ?? []).forEach((entry, i) => {
      if (entry.reference && sources.length < MAX_SOURCES) {
        sources.push({ tag: `S${sources.length + 1}`, reference: entry.reference, section: s.title ?? '', text: items[i] ?? '' });
      }
    });
  }
  return sources;
}

function unescapeXhtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] as string);
}

const SYSTEM_PROMPT = [
  'You summarise a patient record for an emergency department clinician.',
  'Use only the facts given, each tagged like [S3]. Do not add facts, advice or diagnoses.',
  'Write at most 120 words of plain text, most important first (allergies and high-risk problems and medications first),',
  'and cite the tag of every fact you use, e.g. "Penicillin allergy with anaphylaxis [S2]".',
].join(' ');

export type AiOutcome = { ok: true; text: string; cited: Source[] } | { ok: false; reason: string };

/** Checks the model's text: non-empty, bounded, and citing only the given sources (at least one). */
export function checkAnswer(content: string | null | undefined, sources: Source[]): AiOutcome {
  const text = content?.trim() ?? '';
  if (!text) return { ok: false, reason: 'empty answer' };
  if (text.length > MAX_SUMMARY) return { ok: false, reason: `answer longer than ${MAX_SUMMARY} characters` };
  const tags = [...new Set([...text.matchAll(/\[(S\d+)\]/g)].map((m) => m[1]))];
  const unknown = tags.filter((t) => !sources.some((s) => s.tag === t));
  if (unknown.length) return { ok: false, reason: `answer cites unknown sources ${unknown.join(', ')}` };
  if (tags.length === 0) return { ok: false, reason: 'answer cites no source' };
  return { ok: true, text, cited: sources.filter((s) => tags.includes(s.tag)) };
}

export interface AiConfig {
  client: OpenAI;
  model: string;
  timeoutMs?: number;
}

export async function summarizeWithLlm(sources: Source[], config: AiConfig): Promise<AiOutcome> {
  if (sources.length === 0) return { ok: false, reason: 'nothing recorded to summarise' };
  const timeoutMs = config.timeoutMs ?? AI_SUMMARY_TIMEOUT_MS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const completion = await config.client.chat.completions.create(
      {
        model: config.model,
        temperature: 0,
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          { role: 'user', content: sources.map((s) => `[${s.tag}] ${s.section}: ${s.text}`).join('\n') },
        ],
      },
      { timeout: timeoutMs, maxRetries: 0, signal: abort.signal },
    );
    return checkAnswer(completion.choices?.[0]?.message?.content, sources);
  } catch (err) {
    if (abort.signal.aborted || err instanceof OpenAI.APIConnectionTimeoutError)
      return { ok: false, reason: `timed out after ${timeoutMs} ms` };
    const status = err instanceof OpenAI.APIError && err.status ? `HTTP ${err.status}: ` : '';
    return { ok: false, reason: `failed (${status}${(err as Error).message})` };
  } finally {
    clearTimeout(timer);
  }
}

/** The labelled text: what it is, the model's words, then every cited source. */
export function labelledText(text: string, cited: Source[], model: string, at: string): string {
  return [
    `AI-GENERATED SUMMARY (${model}, ${at}) — not reviewed by a clinician; the structured patient summary is the record.`,
    '',
    text,
    '',
    'Sources:',
    ...cited.map((s) => `[${s.tag}] ${s.reference} — ${s.section}: ${s.text}`),
  ].join('\n');
}

export interface AiDocumentContext {
  patient: Reference;
  encounter?: Reference;
  composition: Reference;
  model: string;
  now: string;
}

export function aiSummaryDocument(text: string, cited: Source[], ctx: AiDocumentContext): DocumentReference {
  const body = labelledText(text, cited, ctx.model, ctx.now);
  return {
    resourceType: 'DocumentReference',
    meta: { tag: [AI_TAG] },
    status: 'current',
    docStatus: 'preliminary',
    type: { coding: [{ system: `${ES}/CodeSystem/document-type`, code: 'ai-patient-summary' }], text: 'AI-generated patient summary' },
    subject: ctx.patient as DocumentReference['subject'],
    date: ctx.now,
    author: [{ display: `AI model ${ctx.model} (not a clinician)` }],
    description: 'AI-generated summary of the structured patient summary; verify against its sources before use.',
    context: {
      ...(ctx.encounter ? { encounter: [ctx.encounter as Reference<Encounter>] } : {}),
      related: [ctx.composition, ...cited.map((s) => ({ reference: s.reference }))],
    },
    content: [
      {
        attachment: {
          contentType: 'text/plain; charset=utf-8',
          title: 'AI-generated patient summary (not clinician-reviewed)',
          data: Buffer.from(body, 'utf8').toString('base64'),
        },
      },
    ],
  };
}
