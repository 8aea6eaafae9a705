import type { ProjectSetting } from '@medplum/fhirtypes';
import type { FakeSendGrid } from './sendgrid.ts';
import type { FakeTwilio } from './twilio.ts';

export const FAKE_SMS_FROM = '+15550000000';
export const FAKE_EMAIL_FROM = 'ed@hospital.example';

/** Project secrets that point the official Twilio and SendGrid SDKs at these fakes. */
export function vendorSecrets(twilio: FakeTwilio, sendgrid: FakeSendGrid): ProjectSetting[] {
  const values = {
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_FROM: FAKE_SMS_FROM,
    TWILIO_API_BASE_URL: twilio.url,
    SENDGRID_API_KEY: sendgrid.apiKey,
    SENDGRID_FROM: FAKE_EMAIL_FROM,
    SENDGRID_API_BASE_URL: sendgrid.url,
  };
  return Object.entries(values).map(([name, valueString]) => ({ name, valueString }));
}
