import { ContentType, type MedplumClient } from '@medplum/core';
import type { Attachment, Bot } from '@medplum/fhirtypes';

/** Where the editor's text came from: the saved source, or (never saved here) the deployed bundle. */
export interface BotSource {
  code: string;
  origin: 'source' | 'deployed' | 'new';
}

const STARTER = `import { BotEvent, MedplumClient } from '@medplum/core';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<any> {
  console.log('input', JSON.stringify(event.input));
  return event.input;
}
`;

async function attachmentText(medplum: MedplumClient, attachment: Attachment): Promise<string | undefined> {
  if (attachment.data) {
    // Inline attachments are base64 of UTF-8 text.
    return new TextDecoder().decode(Uint8Array.from(atob(attachment.data), (c) => c.charCodeAt(0)));
  }
  if (attachment.url) {
    return (await medplum.download(attachment.url, { cache: 'no-cache' })).text();
  }
  return undefined;
}

/**
 * The text to edit, as Medplum keeps it: Bot.sourceCode (a Binary the editor saves), else the
 * deployed CommonJS bundle (executableCode; what `npm run deploy:bots` leaves), else a starter.
 */
export async function loadBotSource(medplum: MedplumClient, bot: Bot): Promise<BotSource> {
  if (bot.sourceCode) {
    const code = await attachmentText(medplum, bot.sourceCode);
    if (code !== undefined) return { code, origin: 'source' };
  }
  if (bot.executableCode) {
    const code = await attachmentText(medplum, bot.executableCode);
    if (code !== undefined) return { code, origin: 'deployed' };
  }
  return { code: STARTER, origin: 'new' };
}

/**
 * Saves the text as a new Binary and points Bot.sourceCode at it (each save is a version of the
 * Bot). Only sourceCode changes: the rest is the Bot as stored now, so a deploy or a settings
 * change made since the editor opened is kept.
 */
export async function saveBotSource(medplum: MedplumClient, botId: string, code: string): Promise<Bot> {
  const sourceCode = await medplum.createAttachment({ data: code, contentType: ContentType.TYPESCRIPT, filename: 'index.ts' });
  const current = await medplum.readResource('Bot', botId, { cache: 'no-cache' });
  return medplum.updateResource<Bot>({ ...current, sourceCode });
}

/**
 * TypeScript or ES modules → the CommonJS our bot runtime loads. Sucrase strips types and rewrites
 * import/export without type checking; it is loaded on the first deploy only. `@medplum/core` is
 * provided to bots by the server; other packages need a bundle (`npm run deploy:bots`).
 */
export async function compileBot(code: string): Promise<string> {
  const { transform } = await import('sucrase');
  return transform(code, { transforms: ['typescript', 'imports'], filePath: 'index.ts', production: true }).code;
}

/** Compiles and deploys with Medplum's `Bot/{id}/$deploy` (a new executable Binary each time); answers the Bot as now stored. */
export async function deployBot(medplum: MedplumClient, botId: string, code: string): Promise<Bot> {
  const compiled = await compileBot(code);
  await medplum.post(medplum.fhirUrl('Bot', botId, '$deploy'), { code: compiled, filename: 'index.js' });
  return medplum.readResource('Bot', botId, { cache: 'no-cache' });
}

/** The test inputs $execute accepts, with the content type each is sent as. */
export const INPUT_KINDS = [
  { value: 'fhir', label: 'FHIR JSON', contentType: ContentType.FHIR_JSON },
  { value: 'json', label: 'JSON', contentType: ContentType.JSON },
  { value: 'hl7', label: 'HL7 v2', contentType: ContentType.HL7_V2 },
  { value: 'text', label: 'Text', contentType: ContentType.TEXT },
] as const;
export type InputKind = (typeof INPUT_KINDS)[number]['value'];

/**
 * The body for $execute: JSON kinds parsed here (a syntax error is the user's to fix, not a 400),
 * HL7 with its segments separated by CR as the standard wants (a textarea gives LF).
 */
export function executeBody(kind: InputKind, text: string): { body: unknown; contentType: string } {
  const contentType = INPUT_KINDS.find((k) => k.value === kind)?.contentType ?? ContentType.JSON;
  if (kind === 'fhir' || kind === 'json') {
    const body = JSON.parse(text) as unknown;
    if (kind === 'fhir' && (!body || typeof body !== 'object' || typeof (body as { resourceType?: unknown }).resourceType !== 'string')) {
      throw new Error('FHIR JSON input needs a resourceType');
    }
    return { body, contentType };
  }
  if (kind === 'hl7') {
    return { body: text.trim().replace(/\r?\n/g, '\r'), contentType };
  }
  return { body: text, contentType };
}
