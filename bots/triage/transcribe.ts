/**
 * Voice intake: transcribes an audio Binary's bytes with the Whisper API through the official
 * `openai` SDK. Never throws: a failure is a result with the reason, so triage can go on with the
 * typed complaint (or none).
 */
import OpenAI, { toFile } from 'openai';

export const DEFAULT_TRANSCRIBE_TIMEOUT_MS = 30_000;
/** The transcription endpoint's upload limit. */
export const MAX_AUDIO_BYTES = 25 * 1024 * 1024;

/** Whisper infers the format from the file name, so the extension must match the content type. */
const EXTENSIONS: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/mp4': 'm4a',
  'audio/m4a': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/webm': 'webm',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
  'audio/x-flac': 'flac',
  'video/mp4': 'mp4',
  'video/webm': 'webm',
};

export interface TranscribeConfig {
  client: OpenAI;
  /** Default "whisper-1". */
  model?: string;
  timeoutMs?: number;
  /** ISO-639-1, e.g. "en". */
  language?: string;
  /** Vocabulary hint for the model (e.g. common complaint words and abbreviations). */
  prompt?: string;
}

export type TranscriptionResult =
  | { ok: true; text: string; model: string }
  | { ok: false; reason: string; log: { level: 'warn'; message: string } };

export async function transcribeAudio(audio: Uint8Array, contentType: string, config: TranscribeConfig): Promise<TranscriptionResult> {
  const model = config.model ?? 'whisper-1';
  const fail = (reason: string): TranscriptionResult => ({
    ok: false,
    reason,
    log: { level: 'warn', message: `Voice intake transcription (${model}) failed: ${reason}` },
  });
  const mime = contentType.split(';')[0].trim().toLowerCase();
  const extension = EXTENSIONS[mime];
  if (!extension) return fail(`unsupported audio type ${contentType}`);
  if (audio.byteLength === 0) return fail('empty audio');
  if (audio.byteLength > MAX_AUDIO_BYTES) return fail(`audio is ${audio.byteLength} bytes, over the ${MAX_AUDIO_BYTES}-byte limit`);
  const timeoutMs = config.timeoutMs ?? DEFAULT_TRANSCRIBE_TIMEOUT_MS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const file = await toFile(audio, `intake.${extension}`, { type: mime });
    const result = await config.client.audio.transcriptions.create(
      {
        file,
        model,
        response_format: 'json',
        ...(config.language ? { language: config.language } : {}),
        ...(config.prompt ? { prompt: config.prompt } : {}),
      },
      { timeout: timeoutMs, maxRetries: 0, signal: abort.signal },
    );
    const text = typeof result === 'string' ? result : 'text' in result ? result.text : undefined;
    if (typeof text !== 'string') return fail('the answer had no text');
    if (text.trim() === '') return fail('no speech recognised');
    return { ok: true, text: text.trim(), model };
  } catch (err) {
    if (abort.signal.aborted || err instanceof OpenAI.APIConnectionTimeoutError) return fail(`timed out after ${timeoutMs} ms`);
    const status = err instanceof OpenAI.APIError && err.status ? `HTTP ${err.status}: ` : '';
    return fail(`${status}${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
