/**
 * Human-readable rationale assembled from the structured reasons: the level and the decision
 * point that set it, each reason with its values, then context (complaints, resources, what was
 * not measured), NEWS2 and qSOFA with the parameters that scored.
 */
import type { EsiResult } from './esi.ts';
import type { News2Parameter, News2Result } from './news2.ts';
import type { QsofaResult } from './qsofa.ts';
import type { EsiLevel, Reason } from './types.ts';

export const ESI_LEVEL_NAMES: Record<EsiLevel, string> = {
  1: 'resuscitation',
  2: 'emergent',
  3: 'urgent',
  4: 'less urgent',
  5: 'non-urgent',
};

const DECISION_POINT_NAMES: Record<EsiResult['decisionPoint'], string> = {
  A: 'decision point A: immediate life-saving intervention',
  B: 'decision point B: high-risk situation',
  C: 'decision point C: expected resources',
  D: 'decision point D: danger-zone vital signs',
  'pediatric-fever': 'ESI pediatric fever rule',
  'local-policy': 'local safety policy',
};

const PARAMETER_NAMES: Record<News2Parameter, string> = {
  respirationRate: 'RR',
  spo2: 'SpO2',
  airOrOxygen: 'air/oxygen',
  systolicBP: 'SBP',
  pulse: 'pulse',
  consciousness: 'consciousness',
  temperature: 'T',
};

const label = (r: Reason): string => (r.source === 'local policy' ? `[local policy] ${r.text}` : r.text);

export function news2Line(n: News2Result): string {
  if (n.score === null) return 'NEWS2 not calculated: no parameter measured';
  const bound = n.complete ? '' : '≥ ';
  const scored = n.parameterScores.map((p) => `${PARAMETER_NAMES[p.parameter]} ${String(p.value)} → ${p.score}`).join(', ');
  const missing = n.missing.length > 0 ? `; not measured: ${n.missing.map((m) => PARAMETER_NAMES[m]).join(', ')} (lower bound)` : '';
  const scale = n.scale === 2 ? ', SpO2 scale 2' : '';
  const notes = n.notes.length > 0 ? `; ${n.notes.join('; ')}` : '';
  return `NEWS2 ${bound}${n.score} (${n.band}${n.singleParameter3 ? ', a single parameter scored 3' : ''}${scale}: ${n.response}) — ${scored}${missing}${notes}`;
}

export function qsofaLine(q: QsofaResult): string {
  const parts = q.criteria.map(
    (c) => `${c.rule}: ${c.met === null ? 'not measured' : c.met ? `met (${c.value})` : `not met (${c.value})`}`,
  );
  const bound = q.missing.length > 0 && !q.high ? (q.couldBeHigh ? ' (could reach 2: measure the rest)' : '') : '';
  return `qSOFA ${q.score}/3${q.high ? ' — high risk if infection suspected' : ''}${bound} — ${parts.join('; ')}`;
}

/** The rationale as lines: headline, reasons, context, scores. */
export function rationaleLines(esi: EsiResult): string[] {
  const lines = [`ESI ${esi.level} (${ESI_LEVEL_NAMES[esi.level]}) — set by ${DECISION_POINT_NAMES[esi.decisionPoint]}`];
  for (const r of esi.reasons) lines.push(`• ${label(r)}`);
  for (const n of esi.notes) lines.push(`· ${label(n)}`);
  lines.push(news2Line(esi.news2), qsofaLine(esi.qsofa));
  return lines;
}

export function rationaleText(esi: EsiResult): string {
  return rationaleLines(esi).join('\n');
}
