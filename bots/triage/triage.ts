/**
 * The triage entry point: ESI v4 (with NEWS2 and qSOFA, computed once inside it) and the
 * rationale, from one TriageInput. Pure: no I/O, no clock, no randomness.
 */
import { type EsiOptions, type EsiResult, esi } from './esi.ts';
import type { News2Result } from './news2.ts';
import type { QsofaResult } from './qsofa.ts';
import { rationaleText } from './rationale.ts';
import type { Reason, TriageInput } from './types.ts';

export interface TriageResult {
  esi: EsiResult;
  news2: News2Result;
  qsofa: QsofaResult;
  /** Human-readable, one line per reason. */
  rationale: string;
  /** The reasons that set the level (also in esi.reasons), for structured storage. */
  reasons: Reason[];
}

export function triage(input: TriageInput, options: EsiOptions = {}): TriageResult {
  const result = esi(input, options);
  return { esi: result, news2: result.news2, qsofa: result.qsofa, rationale: rationaleText(result), reasons: result.reasons };
}
