import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type FakeSendGrid, startFakeSendGrid } from '../../../test/fakes/sendgrid.ts';
import { checkEmailSdk, type EmailConfig, emailSetup, sendEmail } from './email.ts';

const KEY = 'SG.test-key';
let sendgrid: FakeSendGrid;
let config: EmailConfig;

beforeAll(async () => {
  sendgrid = await startFakeSendGrid({ apiKey: KEY });
  config = { apiKey: KEY, from: 'ed@hospital.example', apiBaseUrl: sendgrid.url, timeoutMs: 500 };
});

afterAll(async () => {
  await sendgrid?.close();
});

beforeEach(() => {
  sendgrid.failure = 'none';
  sendgrid.requests.length = 0;
  sendgrid.emails.length = 0;
});

const email = { to: 'dr.grey@hospital.example', subject: '[STAT] ED page', text: 'Bed 4: SpO2 84%', customArgs: { communication: 'c1' } };

describe('emailSetup', () => {
  test('key and sender configure the channel', () => {
    expect(
      emailSetup({
        SENDGRID_API_KEY: { name: 'SENDGRID_API_KEY', valueString: KEY },
        SENDGRID_FROM: { name: 'SENDGRID_FROM', valueString: 'a@b' },
      }),
    ).toEqual({ config: { apiKey: KEY, from: 'a@b', apiBaseUrl: undefined, timeoutMs: 4000 } });
  });

  test('without them the channel is unconfigured', () => {
    expect(emailSetup({ SENDGRID_FROM: { name: 'SENDGRID_FROM', valueString: 'a@b' } })).toEqual({ missing: ['SENDGRID_API_KEY'] });
  });
});

describe('sendEmail through the official SDK against a local SendGrid', () => {
  test('POSTs /v3/mail/send with the bearer key and returns the X-Message-Id', async () => {
    const result = await sendEmail(config, email);
    expect(result).toEqual({ status: 'sent', vendorId: sendgrid.emails[0]?.messageId });
    expect(sendgrid.emails).toEqual([
      {
        messageId: expect.any(String),
        to: 'dr.grey@hospital.example',
        from: 'ed@hospital.example',
        subject: '[STAT] ED page',
        text: 'Bed 4: SpO2 84%',
        customArgs: { communication: 'c1' },
      },
    ]);
    const [req] = sendgrid.requests;
    expect(req.url).toBe('/v3/mail/send');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.headers['user-agent']).toMatch(/^sendgrid\//);
  });

  test('a rejected key is a failed result with SendGrid’s message', async () => {
    expect(await sendEmail({ ...config, apiKey: 'SG.wrong' }, email)).toEqual({
      status: 'failed',
      error: 'sendgrid 401: The provided authorization grant is invalid, expired, or revoked',
    });
  });

  test('a server error is a failed result', async () => {
    sendgrid.failure = 'server-error';
    expect(await sendEmail(config, email)).toEqual({ status: 'failed', error: 'sendgrid 500: Internal Server Error' });
  });

  test('no answer within the timeout is a failed result whose outcome is unknown', async () => {
    sendgrid.failure = 'timeout';
    expect(await sendEmail(config, email)).toEqual({ status: 'failed', error: 'sendgrid: no answer within 500 ms (outcome unknown)' });
  });

  test('the SDK loads here (Node)', async () => {
    expect(await checkEmailSdk()).toBeUndefined();
  });
});
