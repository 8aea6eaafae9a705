/**
 * Offline triage: `npm run triage -- cases.jsonl` (or `-` for stdin). One case per line in the
 * format of bots/triage/case.ts; one JSON line out per case, in order:
 *
 *   { "line": 1, "esi": 2, "news2": 5, "rationale": "ESI 2 (emergent) — ..." }
 *
 * "news2" is the score of the measured parameters (a lower bound when some are missing, null when
 * none are; the rationale says which). A line that is not a JSON object prints
 * { "line": n, "error": "..." } and the run goes on; the exit code is then 1. Blank lines are skipped.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

async function main(args: string[]): Promise<number> {
  const source = args[0];
  if (!source || args.length > 1 || source === '--help' || source === '-h') {
    process.stderr.write('usage: npm run triage -- <cases.jsonl | ->\n');
    return 2;
  }
  if (source !== '-') {
    try {
      await access(source);
    } catch {
      process.stderr.write(`triage: cannot read ${source}\n`);
      return 2;
    }
  }
  // Loaded only now, so that usage errors answer at once.
  const { triageLine } = await import('../bots/triage/case.ts');
  const input = source === '-' ? process.stdin : createReadStream(source, 'utf8');
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  let errors = 0;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const chunk = batch.join('');
    batch = [];
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  };
  for await (const text of lines) {
    const out = triageLine(text, ++n);
    if (!out) continue;
    if (out.error) errors++;
    batch.push(`${JSON.stringify(out)}\n`);
    if (batch.length >= 500) await flush();
  }
  await flush();
  if (errors > 0) process.stderr.write(`triage: ${errors} malformed line(s)\n`);
  return errors > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`triage: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
