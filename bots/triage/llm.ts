/**
 * Optional LLM refinement of the rules' ESI level, with the official `openai` SDK.
 *
 * The model sees the case and the rules' rationale and answers JSON { level, explanation }. The
 * combined level is min(rules, model) in ESI numbering: the model can raise acuity, never lower
 * it below the rules' floor. Anything else — timeout, HTTP error, refusal, text that is not exactly
 * that JSON — falls back to the rules' level: silently for the patient, with a log line saying why.
 * The client and model come from the caller (the bot passes event.secrets values); nothing here
 * reads the environment.
 */
import OpenAI from 'openai';
import type { TriageResult } from './triage.ts';
import type { EsiLevel, TriageInput } from './types.ts';

export const DEFAULT_LLM_TIMEOUT_MS = 4000;
const MAX_EXPLANATION = 2000;

export interface LlmConfig {
  client: OpenAI;
  /** e.g. "gpt-4o-mini". */
  model: string;
  /** Whole-call budget; default 4 s. Triage never waits longer for the model. */
  timeoutMs?: number;
}

/** Builds a client from a key (and an optional base URL for compatible gateways); no retries: triage cannot wait. */
export function createOpenAiClient(options: { apiKey: string; baseURL?: string; timeoutMs?: number }): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    maxRetries: 0,
    timeout: options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS,
  });
}

export type LlmOutcome = 'raised' | 'agreed' | 'lower-ignored' | 'timeout' | 'error' | 'invalid';

export interface LlmRefinement {
  /** The level to use: min(rules, model) in ESI numbering; the rules' level on any failure. */
  level: EsiLevel;
  rulesLevel: EsiLevel;
  /** What the model proposed, when it answered validly. */
  llmLevel?: EsiLevel;
  /** True only when the model raised acuity. */
  changed: boolean;
  outcome: LlmOutcome;
  /** The model's explanation, labelled as generated; absent on fallback. */
  explanation?: string;
  model: string;
  /** For the bot's log: a warning on every fallback. */
  log: { level: 'info' | 'warn'; message: string };
}

interface ModelAnswer {
  level: EsiLevel;
  explanation: string;
}

const SYSTEM_PROMPT = [
  'You are an emergency department triage assistant using the Emergency Severity Index (ESI) version 4.',
  'ESI levels: 1 = needs an immediate life-saving intervention, 2 = high-risk situation, new confusion/lethargy or severe pain/distress,',
  '3 = two or more resource types expected, 4 = one resource type, 5 = none.',
  'A rules engine has already assigned a level. You may keep it or assign a MORE acute level (a lower number) if the case warrants it; a less acute level will be ignored.',
  'Answer with one JSON object and nothing else: {"level": <integer 1-5>, "explanation": "<at most 600 characters, the findings that drive the level>"}.',
].join(' ');

/** The case as sent to the model: clinical facts only, no identifiers. */
function caseText(input: TriageInput, rules: TriageResult): string {
  return JSON.stringify({
    case: input,
    rulesLevel: rules.esi.level,
    rulesDecisionPoint: rules.esi.decisionPoint,
    rulesRationale: rules.rationale,
  });
}

/** Strict: exactly { level: integer 1–5, explanation: non-empty string }, nothing more. */
export function parseModelAnswer(content: string | null | undefined): ModelAnswer | string {
  if (typeof content !== 'string' || content.trim() === '') return 'empty answer';
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return 'answer is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'answer is not a JSON object';
  const keys = Object.keys(value).sort();
  if (keys.join(',') !== 'explanation,level') return `answer has keys [${keys.join(', ')}], expected exactly level and explanation`;
  const { level, explanation } = value as { level: unknown; explanation: unknown };
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 1 || level > 5)
    return `level ${JSON.stringify(level)} is not an integer from 1 to 5`;
  if (typeof explanation !== 'string' || explanation.trim() === '') return 'explanation is empty';
  if (explanation.length > MAX_EXPLANATION) return `explanation longer than ${MAX_EXPLANATION} characters`;
  return { level: level as EsiLevel, explanation: explanation.trim() };
}

function isTimeout(err: unknown, timedOut: boolean): boolean {
  return timedOut || err instanceof OpenAI.APIConnectionTimeoutError;
}

export async function refineWithLlm(input: TriageInput, rules: TriageResult, config: LlmConfig): Promise<LlmRefinement> {
  const rulesLevel = rules.esi.level;
  const model = config.model;
  const timeoutMs = config.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
  const fallback = (outcome: LlmOutcome, why: string): LlmRefinement => ({
    level: rulesLevel,
    rulesLevel,
    changed: false,
    outcome,
    model,
    log: { level: 'warn', message: `LLM triage refinement (${model}) ${why}; using the rules' ESI ${rulesLevel}` },
  });

  // The SDK's own timeout covers the wait for headers; this bounds the whole call, body included.
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);
  let content: string | null | undefined;
  try {
    const completion = await config.client.chat.completions.create(
      {
        model,
        temperature: 0,
        response_format: { type: 'json_object' },
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          { role: 'user', content: caseText(input, rules) },
        ],
      },
      { timeout: timeoutMs, maxRetries: 0, signal: abort.signal },
    );
    content = completion.choices?.[0]?.message?.content;
  } catch (err) {
    if (isTimeout(err, timedOut)) return fallback('timeout', `timed out after ${timeoutMs} ms`);
    const status = err instanceof OpenAI.APIError && err.status ? `HTTP ${err.status}: ` : '';
    return fallback('error', `failed (${status}${(err as Error).message})`);
  } finally {
    clearTimeout(timer);
  }

  const answer = parseModelAnswer(content);
  if (typeof answer === 'string') return fallback('invalid', `gave an invalid answer (${answer})`);
  const explanation = `[AI-generated by ${model}, not a clinician's assessment] ${answer.explanation}`;
  if (answer.level < rulesLevel) {
    return {
      level: answer.level,
      rulesLevel,
      llmLevel: answer.level,
      changed: true,
      outcome: 'raised',
      explanation,
      model,
      log: {
        level: 'info',
        message: `LLM triage refinement (${model}) raised acuity from the rules' ESI ${rulesLevel} to ESI ${answer.level}`,
      },
    };
  }
  if (answer.level > rulesLevel) {
    return {
      level: rulesLevel,
      rulesLevel,
      llmLevel: answer.level,
      changed: false,
      outcome: 'lower-ignored',
      explanation,
      model,
      log: {
        level: 'info',
        message: `LLM triage refinement (${model}) proposed ESI ${answer.level}, less acute than the rules' floor ESI ${rulesLevel}: ignored`,
      },
    };
  }
  return {
    level: rulesLevel,
    rulesLevel,
    llmLevel: answer.level,
    changed: false,
    outcome: 'agreed',
    explanation,
    model,
    log: { level: 'info', message: `LLM triage refinement (${model}) agreed with the rules' ESI ${rulesLevel}` },
  };
}

/** Lines to append to the rules' rationale, so the record shows what the model did. */
export function refinementRationale(r: LlmRefinement): string {
  switch (r.outcome) {
    case 'raised':
      return `LLM (${r.model}) raised acuity: ESI ${r.rulesLevel} → ESI ${r.level}. ${r.explanation}`;
    case 'agreed':
      return `LLM (${r.model}) agreed with ESI ${r.level}. ${r.explanation}`;
    case 'lower-ignored':
      return `LLM (${r.model}) proposed ESI ${r.llmLevel}, below the rules' floor: ESI ${r.level} kept. ${r.explanation}`;
    default:
      return `LLM refinement unavailable (${r.outcome}): the rules' ESI ${r.level} stands.`;
  }
}
