import { randomBytes } from 'node:crypto';
import { type FakeReply, type FakeServer, type RecordedRequest, startFakeServer } from './fake-server.ts';

export interface FakeSendGridOptions {
  apiKey: string;
}

/** One email the fake accepted (one per personalization recipient). */
export interface FakeEmail {
  messageId: string;
  to: string;
  from: string;
  subject: string;
  text: string;
  customArgs: Record<string, string>;
}

export interface FakeSendGrid extends FakeServer, FakeSendGridOptions {
  emails: FakeEmail[];
}

interface MailSendBody {
  personalizations?: { to?: { email?: string }[]; subject?: string; custom_args?: Record<string, string> }[];
  from?: { email?: string };
  subject?: string;
  content?: { type?: string; value?: string }[];
  custom_args?: Record<string, string>;
}

function sendGridError(status: number, message: string, field: string | null = null): FakeReply {
  return { status, body: { errors: [{ message, field, help: null }] } };
}

/**
 * A local stand-in for SendGrid's v3 Mail Send API: `POST /v3/mail/send` with a JSON body and
 * `Authorization: Bearer <api key>`; answers 202 with an empty body and `X-Message-Id`, or
 * SendGrid's error JSON (`errors: [{ message, field, help }]`).
 */
export async function startFakeSendGrid(options: FakeSendGridOptions): Promise<FakeSendGrid> {
  const emails: FakeEmail[] = [];
  const route = (req: RecordedRequest): FakeReply => {
    if (req.method !== 'POST' || req.url !== '/v3/mail/send') {
      return sendGridError(404, 'Not found');
    }
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendGridError(401, 'The provided authorization grant is invalid, expired, or revoked');
    }
    let body: MailSendBody;
    try {
      body = JSON.parse(req.body) as MailSendBody;
    } catch {
      return sendGridError(400, 'Bad Request', null);
    }
    const personalizations = body.personalizations ?? [];
    if (personalizations.length === 0 || personalizations.some((p) => !p.to?.length || p.to.some((t) => !t.email))) {
      return sendGridError(400, 'The personalizations field is required and must have at least one personalization.', 'personalizations');
    }
    if (!body.from?.email) return sendGridError(400, 'The from object must be provided for every email send.', 'from');
    const text = body.content?.find((c) => c.type === 'text/plain')?.value;
    if (!text) return sendGridError(400, 'Unless a valid template_id is provided, the content parameter is required.', 'content');
    if (personalizations.some((p) => !(p.subject ?? body.subject))) {
      return sendGridError(400, 'The subject is required.', 'subject');
    }
    const messageId = randomBytes(11).toString('base64url');
    for (const p of personalizations) {
      const subject = (p.subject ?? body.subject) as string;
      for (const to of p.to ?? []) {
        emails.push({
          messageId,
          to: to.email as string,
          from: body.from.email,
          subject,
          text,
          customArgs: { ...body.custom_args, ...p.custom_args },
        });
      }
    }
    return { status: 202, headers: { 'x-message-id': messageId } };
  };
  const server = await startFakeServer(route, {
    unauthorized: sendGridError(401, 'The provided authorization grant is invalid, expired, or revoked'),
    'server-error': sendGridError(500, 'Internal Server Error'),
  });
  return Object.assign(server, { emails, apiKey: options.apiKey });
}
