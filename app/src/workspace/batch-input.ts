import type { Bundle, BundleEntry, OperationOutcome } from '@medplum/fhirtypes';

export type ParsedBundle = { bundle: Bundle; error?: undefined } | { bundle?: undefined; error: string };

/** Pasted or dropped text → a batch/transaction Bundle, or a message saying exactly what is wrong. */
export function parseBundleInput(text: string): ParsedBundle {
  if (!text.trim()) return { error: 'Paste a Bundle or drop a file first.' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `Invalid JSON: ${(err as Error).message}` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'Expected a JSON object with "resourceType": "Bundle".' };
  }
  const bundle = value as Bundle;
  if (bundle.resourceType !== 'Bundle') {
    return { error: `Expected a Bundle, got ${JSON.stringify((value as { resourceType?: unknown }).resourceType ?? null)}.` };
  }
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    return { error: `Bundle.type must be "batch" or "transaction", got ${JSON.stringify(bundle.type ?? null)}.` };
  }
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) {
    return { error: 'The Bundle has no entries.' };
  }
  const missing = bundle.entry.findIndex((e) => !e?.request?.method || !e.request.url);
  if (missing >= 0) {
    return { error: `Entry ${missing + 1} has no request.method and request.url.` };
  }
  return { bundle };
}

/** One row of the outcome table. */
export interface EntryOutcome {
  index: number;
  request: string;
  status: string;
  ok: boolean;
  location?: string;
  issues: string[];
}

/** What each issue of an OperationOutcome says, with where it points. */
export function issueTexts(outcome: OperationOutcome | undefined): string[] {
  return (outcome?.issue ?? []).map((issue) => {
    const text = issue.details?.text ?? issue.diagnostics ?? issue.code;
    const where = issue.expression?.join(', ');
    return where ? `${text} (${where})` : text;
  });
}

function onlyProblems(outcome: OperationOutcome | undefined, ok: boolean): OperationOutcome | undefined {
  if (!outcome || !ok) return outcome;
  return { ...outcome, issue: outcome.issue.filter((i) => i.severity !== 'information') };
}

/** Pairs each request entry with its response entry (same position, as FHIR requires). */
export function entryOutcomes(request: Bundle, response: Bundle): EntryOutcome[] {
  return (request.entry ?? []).map((entry: BundleEntry, index) => {
    const answer = response.entry?.[index]?.response;
    const status = answer?.status ?? '';
    return {
      index: index + 1,
      request: `${entry.request?.method ?? ''} ${entry.request?.url ?? ''}`.trim(),
      status,
      ok: /^2\d\d/.test(status),
      location: answer?.location,
      // A success's informational issue ("Created", "All OK") says nothing the status does not.
      issues: issueTexts(onlyProblems(answer?.outcome as OperationOutcome | undefined, /^2\d\d/.test(status))),
    };
  });
}

/** The app path of an entry's `response.location` (relative or absolute, with or without `_history`). */
export function locationPath(location: string): string | undefined {
  const match = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(location);
  return match ? `/${match[1]}/${match[2]}` : undefined;
}
