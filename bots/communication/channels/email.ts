/**
 * Email through SendGrid's official SDK (`@sendgrid/mail` on its own `@sendgrid/client`), loaded on
 * first use so in-app delivery never waits for it. Each send gets its own client instance: no
 * SDK singleton, so two projects' keys never mix.
 */
import { type ChannelResult, type ChannelSetup, loadSdk, readSecrets, type Secrets, transportError, VENDOR_TIMEOUT_MS } from './channel.ts';

export interface EmailConfig {
  apiKey: string;
  /** The sender address. */
  from: string;
  /** Replaces https://api.sendgrid.com/ (tests point the SDK at a local fake). */
  apiBaseUrl?: string;
  timeoutMs: number;
}

export interface Email {
  to: string;
  subject: string;
  text: string;
  /** Echoed by SendGrid in its event webhooks, so events can be matched to our records. */
  customArgs?: Record<string, string>;
}

export function emailSetup(secrets: Secrets): ChannelSetup<EmailConfig> {
  const read = readSecrets(secrets, ['SENDGRID_API_KEY', 'SENDGRID_FROM'], ['SENDGRID_API_BASE_URL']);
  if ('missing' in read) return read;
  const s = read.config;
  return {
    config: { apiKey: s.SENDGRID_API_KEY, from: s.SENDGRID_FROM, apiBaseUrl: s.SENDGRID_API_BASE_URL, timeoutMs: VENDOR_TIMEOUT_MS },
  };
}

type SendGridClient = typeof import('@sendgrid/client');
type SendGridMail = typeof import('@sendgrid/mail');

function loadSendGrid() {
  return loadSdk('@sendgrid/mail', async () => {
    const [client, mail] = await Promise.all([import('@sendgrid/client'), import('@sendgrid/mail')]);
    // Both packages export a singleton and attach the class to it (`module.exports.Client = Client`);
    // their typings declare only the singleton, so the classes are typed here.
    return {
      Client: (client.default as unknown as { Client: new () => SendGridClient }).Client,
      MailService: (mail.default as unknown as { MailService: new () => SendGridMail }).MailService,
    };
  });
}

/** Loads the SDK without sending anything (for the bot's channel check): an error text, or undefined. */
export async function checkEmailSdk(): Promise<string | undefined> {
  const loaded = await loadSendGrid();
  return 'error' in loaded ? loaded.error : undefined;
}

function sendGridError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: unknown; message?: unknown; response?: { body?: { errors?: { message?: string }[] } } };
  if (typeof e?.code === 'number') {
    const details = e.response?.body?.errors?.map((x) => x.message).filter(Boolean) ?? [];
    return `sendgrid ${e.code}: ${details.length ? details.join('; ') : String(e.message)}`;
  }
  return transportError('sendgrid', err, timeoutMs);
}

function header(headers: unknown, name: string): string | undefined {
  const h = headers as { get?: (n: string) => unknown } & Record<string, unknown>;
  const value = typeof h?.get === 'function' ? h.get(name) : h?.[name];
  return typeof value === 'string' && value ? value : undefined;
}

/** Sends one email; a vendor or network failure is a `failed` result, never a throw. */
export async function sendEmail(config: EmailConfig, email: Email): Promise<ChannelResult> {
  const loaded = await loadSendGrid();
  if ('error' in loaded) {
    return { status: 'failed', error: loaded.error };
  }
  const { sdk } = loaded;
  try {
    const client = new sdk.Client();
    client.setApiKey(config.apiKey);
    // After setApiKey, which resets the base URL to the key's region.
    if (config.apiBaseUrl) {
      client.setDefaultRequest('baseUrl', config.apiBaseUrl);
    }
    const mail = new sdk.MailService();
    mail.setClient(client);
    mail.setTimeout(config.timeoutMs);
    const [response] = await mail.send({
      to: email.to,
      from: config.from,
      subject: email.subject,
      text: email.text,
      ...(email.customArgs ? { customArgs: email.customArgs } : {}),
    });
    // SendGrid answers 202 with the message's id in X-Message-Id (its event webhooks carry it as sg_message_id).
    return { status: 'sent', vendorId: header(response.headers, 'x-message-id') ?? `sendgrid-${response.statusCode}` };
  } catch (err) {
    return { status: 'failed', error: sendGridError(err, config.timeoutMs) };
  }
}
