import type { ProjectSetting } from '@medplum/fhirtypes';

/** The project's secrets as a bot receives them (`event.secrets`). */
export type Secrets = Record<string, ProjectSetting | undefined>;

/** What happened to one message handed to a vendor. */
export type ChannelResult = { status: 'sent'; vendorId: string } | { status: 'failed'; error: string };

/** A channel's configuration from the secrets, or the names of the secrets it lacks. */
export type ChannelSetup<T> = { config: T } | { missing: string[] };

/**
 * Vendor calls never take longer than this, so a stuck vendor cannot hold a bot past its own
 * timeout (10 s by default) and SMS and email together fit well inside it.
 */
export const VENDOR_TIMEOUT_MS = 4000;

function secretString(secrets: Secrets, name: string): string | undefined {
  const value = secrets[name]?.valueString?.trim();
  return value ? value : undefined;
}

/** Reads the required and optional secrets of a channel; a missing required one leaves it unconfigured. */
export function readSecrets<R extends string, O extends string>(
  secrets: Secrets,
  required: readonly R[],
  optional: readonly O[],
): ChannelSetup<Record<R, string> & Partial<Record<O, string>>> {
  const missing = required.filter((name) => !secretString(secrets, name));
  if (missing.length > 0) {
    return { missing };
  }
  const values: Record<string, string> = {};
  for (const name of [...required, ...optional]) {
    const value = secretString(secrets, name);
    if (value) values[name] = value;
  }
  return { config: values as Record<R, string> & Partial<Record<O, string>> };
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Text for a failure that did not come back as a vendor error response: timeouts (the vendor may
 * still deliver, so the text says the outcome is unknown), refused connections, and anything else.
 */
export function transportError(vendor: string, err: unknown, timeoutMs: number): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return `${vendor}: no answer within ${timeoutMs} ms (outcome unknown)`;
  }
  return `${vendor}: ${code ? `${code} ` : ''}${message}`;
}

/**
 * Loads a vendor SDK (bundled, loaded on first use); a runtime that cannot (e.g. one without Node's
 * built-in modules) gets an error text instead of a throw.
 */
export async function loadSdk<T>(sdk: string, load: () => Promise<T>): Promise<{ sdk: T } | { error: string }> {
  try {
    return { sdk: await load() };
  } catch (err) {
    return { error: `cannot load the ${sdk} SDK in this bot runtime: ${err instanceof Error ? err.message : String(err)}` };
  }
}
