/**
 * The server's own emails (invitations, password resets) through the project's optional email
 * channel: the same project secrets the communication agent uses (SENDGRID_API_KEY, SENDGRID_FROM,
 * optional SENDGRID_API_BASE_URL). Without them nothing is sent and the caller says so.
 */
import type { Project, ProjectSetting } from '@medplum/fhirtypes';

export type EmailResult = { status: 'sent' } | { status: 'not-configured' } | { status: 'failed'; error: string };

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
}

const TIMEOUT_MS = 4000;

function secret(settings: ProjectSetting[] | undefined, name: string): string | undefined {
  const value = settings?.find((s) => s.name === name)?.valueString?.trim();
  return value || undefined;
}

type SendGridClient = typeof import('@sendgrid/client');
type SendGridMail = typeof import('@sendgrid/mail');

/** Sends one email with the project's SendGrid key; failures are results, never throws. */
export async function sendProjectEmail(project: Project, email: OutgoingEmail): Promise<EmailResult> {
  const apiKey = secret(project.secret, 'SENDGRID_API_KEY');
  const from = secret(project.secret, 'SENDGRID_FROM');
  if (!apiKey || !from) {
    return { status: 'not-configured' };
  }
  const baseUrl = secret(project.secret, 'SENDGRID_API_BASE_URL');
  try {
    const [clientModule, mailModule] = await Promise.all([import('@sendgrid/client'), import('@sendgrid/mail')]);
    // A client per send (the packages' default exports are process-wide singletons): two projects'
    // keys never mix. The typings declare only the singletons, so the classes are typed here.
    const client = new (clientModule.default as unknown as { Client: new () => SendGridClient }).Client();
    client.setApiKey(apiKey);
    // After setApiKey, which resets the base URL to the key's region.
    if (baseUrl) client.setDefaultRequest('baseUrl', baseUrl);
    const mail = new (mailModule.default as unknown as { MailService: new () => SendGridMail }).MailService();
    mail.setClient(client);
    mail.setTimeout(TIMEOUT_MS);
    await mail.send({ to: email.to, from, subject: email.subject, text: email.text });
    return { status: 'sent' };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return { status: 'failed', error: `sendgrid${typeof e.code === 'number' ? ` ${e.code}` : ''}: ${String(e.message ?? err)}` };
  }
}
