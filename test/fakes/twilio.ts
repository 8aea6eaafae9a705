import { randomBytes } from 'node:crypto';
import { type FakeReply, type FakeServer, type RecordedRequest, startFakeServer } from './fake-server.ts';

export interface FakeTwilioOptions {
  accountSid: string;
  authToken: string;
}

/** One message the fake accepted, as the SDK sent it. */
export interface FakeSms {
  sid: string;
  to: string;
  from: string;
  body: string;
}

export interface FakeTwilio extends FakeServer, FakeTwilioOptions {
  /** Accepted messages, in order. */
  messages: FakeSms[];
}

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

function twilioError(status: number, code: number, message: string): FakeReply {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

function basicAuth(req: RecordedRequest): { user: string; password: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/**
 * A local stand-in for Twilio's Programmable Messaging API: `POST /2010-04-01/Accounts/{sid}/Messages.json`,
 * form-encoded, HTTP Basic auth with the account SID and auth token; answers 201 with the Message
 * resource (`sid`, `status` queued, ...) or Twilio's error JSON (`code`, `message`, `more_info`, `status`).
 */
export async function startFakeTwilio(options: FakeTwilioOptions): Promise<FakeTwilio> {
  const messages: FakeSms[] = [];
  const route = (req: RecordedRequest): FakeReply => {
    const match = MESSAGES_PATH.exec(req.url);
    if (req.method !== 'POST' || !match) {
      return twilioError(404, 20404, `The requested resource ${req.url} was not found`);
    }
    const auth = basicAuth(req);
    if (!auth || auth.user !== options.accountSid || auth.password !== options.authToken || match[1] !== options.accountSid) {
      return twilioError(401, 20003, 'Authenticate');
    }
    if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return twilioError(400, 20001, 'Expected a form-encoded body');
    }
    const form = new URLSearchParams(req.body);
    const to = form.get('To');
    const from = form.get('From');
    const body = form.get('Body');
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!from) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (!body) return twilioError(400, 21602, 'Message body is required.');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    messages.push({ sid, to, from, body });
    const now = new Date().toUTCString().replace('GMT', '+0000');
    return {
      status: 201,
      body: {
        account_sid: options.accountSid,
        api_version: '2010-04-01',
        body,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from,
        messaging_service_sid: null,
        num_media: '0',
        num_segments: String(Math.ceil(body.length / 153) || 1),
        price: null,
        price_unit: 'USD',
        sid,
        status: 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${options.accountSid}/Messages/${sid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${options.accountSid}/Messages/${sid}.json`,
      },
    };
  };
  const server = await startFakeServer(route, {
    unauthorized: twilioError(401, 20003, 'Authenticate'),
    'server-error': twilioError(500, 20500, 'Internal Server Error'),
  });
  return Object.assign(server, { messages, accountSid: options.accountSid, authToken: options.authToken });
}
