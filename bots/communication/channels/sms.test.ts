import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type FakeTwilio, startFakeTwilio } from '../../../test/fakes/twilio.ts';
import type { Secrets } from './channel.ts';
import { checkSmsSdk, rebaseUrl, type SmsConfig, sendSms, smsSetup } from './sms.ts';

const ACCOUNT = `AC${'1'.repeat(32)}`;
const TOKEN = 'twilio-auth-token';
let twilio: FakeTwilio;
let config: SmsConfig;

beforeAll(async () => {
  twilio = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN });
  config = { accountSid: ACCOUNT, authToken: TOKEN, from: '+15550000001', apiBaseUrl: twilio.url, timeoutMs: 500 };
});

afterAll(async () => {
  await twilio?.close();
});

beforeEach(() => {
  twilio.failure = 'none';
  twilio.requests.length = 0;
  twilio.messages.length = 0;
});

function secrets(values: Record<string, string>): Secrets {
  return Object.fromEntries(Object.entries(values).map(([name, valueString]) => [name, { name, valueString }]));
}

describe('smsSetup', () => {
  test('all three keys configure the channel; the base URL is optional', () => {
    expect(smsSetup(secrets({ TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM: '+1555' }))).toEqual({
      config: { accountSid: ACCOUNT, authToken: TOKEN, from: '+1555', apiBaseUrl: undefined, timeoutMs: 4000 },
    });
  });

  test('missing or blank keys leave it unconfigured, naming them', () => {
    expect(smsSetup({})).toEqual({ missing: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'] });
    expect(smsSetup(secrets({ TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: '  ', TWILIO_FROM: '+1555' }))).toEqual({
      missing: ['TWILIO_AUTH_TOKEN'],
    });
  });
});

test('rebaseUrl keeps path and query and a base path prefix', () => {
  expect(rebaseUrl('https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1', 'http://127.0.0.1:9/')).toBe(
    'http://127.0.0.1:9/2010-04-01/Accounts/AC1/Messages.json?x=1',
  );
  expect(rebaseUrl('https://api.twilio.com/2010-04-01/A.json', 'http://h/twilio')).toBe('http://h/twilio/2010-04-01/A.json');
});

describe('sendSms through the official SDK against a local Twilio', () => {
  test('POSTs the form to Messages.json with basic auth and returns the message SID', async () => {
    const result = await sendSms(config, { to: '+15551234567', body: 'STAT page: bed 4' });
    expect(result).toEqual({ status: 'sent', vendorId: expect.stringMatching(/^SM[0-9a-f]{32}$/) });
    expect(twilio.messages).toEqual([
      { sid: (result as { vendorId: string }).vendorId, to: '+15551234567', from: '+15550000001', body: 'STAT page: bed 4' },
    ]);
    const [req] = twilio.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe(`/2010-04-01/Accounts/${ACCOUNT}/Messages.json`);
    expect(req.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`);
    expect(req.headers['user-agent']).toMatch(/^twilio-node\//);
  });

  test('a rejected credential is a failed result with Twilio’s code', async () => {
    twilio.failure = 'unauthorized';
    expect(await sendSms(config, { to: '+15551234567', body: 'x' })).toEqual({
      status: 'failed',
      error: 'twilio 401 (20003): Authenticate',
    });
  });

  test('a wrong auth token is rejected by the fake itself', async () => {
    expect(await sendSms({ ...config, authToken: 'wrong' }, { to: '+15551234567', body: 'x' })).toEqual({
      status: 'failed',
      error: 'twilio 401 (20003): Authenticate',
    });
    expect(twilio.messages).toHaveLength(0);
  });

  test('a server error is a failed result', async () => {
    twilio.failure = 'server-error';
    expect(await sendSms(config, { to: '+15551234567', body: 'x' })).toEqual({
      status: 'failed',
      error: 'twilio 500 (20500): Internal Server Error',
    });
  });

  test('no answer within the timeout is a failed result whose outcome is unknown', async () => {
    twilio.failure = 'timeout';
    const started = Date.now();
    expect(await sendSms(config, { to: '+15551234567', body: 'x' })).toEqual({
      status: 'failed',
      error: 'twilio: no answer within 500 ms (outcome unknown)',
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(twilio.requests).toHaveLength(1);
  });

  test('an unreachable vendor is a failed result', async () => {
    const result = await sendSms({ ...config, apiBaseUrl: 'http://127.0.0.1:1' }, { to: '+15551234567', body: 'x' });
    expect(result).toMatchObject({ status: 'failed', error: expect.stringMatching(/^twilio: ECONNREFUSED/) });
  });

  test('the SDK loads here (Node)', async () => {
    expect(await checkSmsSdk()).toBeUndefined();
  });
});
