/**
 * SMS through Twilio's official SDK (`twilio`).
 *
 * The SDK is loaded on first use, not when the bot starts: in-app delivery must never wait for
 * (or fail because of) a vendor SDK. Only the SDK's REST client core and its `Api` domain (the
 * `twilio(...).api` object, which holds Messages) are bundled: the full SDK is ~7.5 MB of
 * generated code for every Twilio product and costs ~0.5 s to compile in each bot worker.
 */
import type TwilioRequestClient from 'twilio/lib/base/RequestClient.js';
import { type ChannelResult, type ChannelSetup, loadSdk, readSecrets, type Secrets, transportError, VENDOR_TIMEOUT_MS } from './channel.ts';

export interface SmsConfig {
  accountSid: string;
  authToken: string;
  /** The sending number (E.164) or messaging service. */
  from: string;
  /** Replaces https://api.twilio.com (tests point the SDK at a local fake). */
  apiBaseUrl?: string;
  timeoutMs: number;
}

export interface Sms {
  to: string;
  body: string;
}

export function smsSetup(secrets: Secrets): ChannelSetup<SmsConfig> {
  const read = readSecrets(secrets, ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'], ['TWILIO_API_BASE_URL']);
  if ('missing' in read) return read;
  const s = read.config;
  return {
    config: {
      accountSid: s.TWILIO_ACCOUNT_SID,
      authToken: s.TWILIO_AUTH_TOKEN,
      from: s.TWILIO_FROM,
      apiBaseUrl: s.TWILIO_API_BASE_URL,
      timeoutMs: VENDOR_TIMEOUT_MS,
    },
  };
}

/** Moves an SDK-built URL (https://api.twilio.com/2010-04-01/...) onto `base`, keeping path and query. */
export function rebaseUrl(uri: string, base: string): string {
  const from = new URL(uri);
  const to = new URL(base);
  to.pathname = `${to.pathname.replace(/\/$/, '')}${from.pathname}`;
  to.search = from.search;
  return to.href;
}

function loadTwilio() {
  return loadSdk('twilio', async () => {
    const [{ default: Api }, { default: BaseTwilio }, { default: RequestClient }] = await Promise.all([
      import('twilio/lib/rest/Api.js'),
      import('twilio/lib/base/BaseTwilio.js'),
      import('twilio/lib/base/RequestClient.js'),
    ]);
    return { Api, BaseTwilio, RequestClient };
  });
}

/** Loads the SDK without sending anything (for the bot's channel check): an error text, or undefined. */
export async function checkSmsSdk(): Promise<string | undefined> {
  const loaded = await loadTwilio();
  return 'error' in loaded ? loaded.error : undefined;
}

/**
 * The SDK's own HTTP client, as Twilio documents for custom clients ("Custom HTTP Clients for
 * the Twilio Node Helper Library"), with its host moved to `apiBaseUrl` when one is set: the
 * SDK's axios transport still makes the request.
 */
function httpClient(RequestClient: typeof TwilioRequestClient, config: SmsConfig): TwilioRequestClient {
  if (!config.apiBaseUrl) {
    return new RequestClient({ timeout: config.timeoutMs });
  }
  const base = config.apiBaseUrl;
  class RebasedRequestClient extends RequestClient {
    override request<T>(opts: TwilioRequestClient.RequestOptions<T>) {
      const uri = opts.uri;
      return super.request(uri ? { ...opts, uri: rebaseUrl(uri, base) } : opts);
    }
  }
  return new RebasedRequestClient({ timeout: config.timeoutMs });
}

function twilioError(err: unknown, timeoutMs: number): string {
  const e = err as { status?: unknown; code?: unknown; message?: unknown; moreInfo?: unknown };
  if (typeof e?.status === 'number' && typeof e.message === 'string') {
    return `twilio ${e.status}${typeof e.code === 'number' ? ` (${e.code})` : ''}: ${e.message}`;
  }
  return transportError('twilio', err, timeoutMs);
}

/** Sends one SMS; a vendor or network failure is a `failed` result, never a throw. */
export async function sendSms(config: SmsConfig, sms: Sms): Promise<ChannelResult> {
  const loaded = await loadTwilio();
  if ('error' in loaded) {
    return { status: 'failed', error: loaded.error };
  }
  const { sdk } = loaded;
  try {
    const client = new sdk.BaseTwilio.Client(config.accountSid, config.authToken, {
      httpClient: httpClient(sdk.RequestClient, config),
      // The SDK falls back to process.env for these; a bot's configuration is its secrets only.
      env: {},
      edge: '',
      region: '',
      logLevel: '',
    });
    const message = await new sdk.Api(client).account.messages.create({ to: sms.to, from: config.from, body: sms.body });
    return { status: 'sent', vendorId: message.sid };
  } catch (err) {
    return { status: 'failed', error: twilioError(err, config.timeoutMs) };
  }
}
