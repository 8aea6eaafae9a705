/**
 * A small local server that speaks the two OpenAI endpoints the agents use — Chat Completions and
 * audio transcriptions — so tests run the real `openai` SDK against it (`baseURL: fake.baseURL`).
 * Behaviour is switchable per test: answer a level, answer some other content (garbage), hang
 * (never answer), or fail with an HTTP status. Every request is recorded.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeOpenAiBehaviour =
  | { kind: 'level'; level: number; explanation?: string }
  | { kind: 'content'; content: string }
  | { kind: 'hang' }
  | { kind: 'status'; status: number; message?: string };

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  /** Parsed JSON for chat; for transcriptions the multipart fields (the file as { name, type, size }). */
  body: unknown;
}

export interface FakeOpenAi {
  /** Pass to `new OpenAI({ baseURL })`. */
  baseURL: string;
  requests: RecordedRequest[];
  setBehaviour(behaviour: FakeOpenAiBehaviour): void;
  /** What the transcription endpoint answers. */
  setTranscript(text: string): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Multipart fields, parsed by the platform's own Request/FormData. */
async function formFields(req: IncomingMessage, body: Buffer): Promise<Record<string, unknown>> {
  const form = await new Request('http://fake.local/', {
    method: 'POST',
    headers: { 'content-type': req.headers['content-type'] ?? '' },
    body: new Uint8Array(body),
  }).formData();
  const fields: Record<string, unknown> = {};
  form.forEach((value, key) => {
    fields[key] = typeof value === 'string' ? value : { name: value.name, type: value.type, size: value.size };
  });
  return fields;
}

export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  let behaviour: FakeOpenAiBehaviour = { kind: 'level', level: 3, explanation: 'Agrees with the rules.' };
  let transcript = '';
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const path = (req.url ?? '').split('?')[0];
      const isChat = path.endsWith('/chat/completions');
      const isAudio = path.endsWith('/audio/transcriptions');
      let body: unknown;
      try {
        body = isAudio ? await formFields(req, raw) : JSON.parse(raw.toString('utf8') || 'null');
      } catch {
        body = raw.toString('utf8');
      }
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (!isChat && !isAudio) return json(404, { error: { message: `no route ${path}`, type: 'invalid_request_error' } });
      if (behaviour.kind === 'hang') return; // the socket stays open until the client gives up or close()
      if (behaviour.kind === 'status') {
        return json(behaviour.status, { error: { message: behaviour.message ?? 'fake failure', type: 'server_error', code: null } });
      }
      if (isAudio) return json(200, { text: transcript });
      const content =
        behaviour.kind === 'level'
          ? JSON.stringify({ level: behaviour.level, explanation: behaviour.explanation ?? `Fake model says ESI ${behaviour.level}.` })
          : behaviour.content;
      const model = (body as { model?: string } | null)?.model ?? 'fake';
      json(200, {
        id: `chatcmpl-fake-${requests.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(err), type: 'fake_error' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    setBehaviour: (b) => {
      behaviour = b;
    },
    setTranscript: (t) => {
      transcript = t;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
