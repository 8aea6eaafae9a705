import { randomUUID } from 'node:crypto';
import { badRequest, OperationOutcomeError } from '@medplum/core';
import type pg from 'pg';
import { outcome } from '../http/outcomes.ts';
import { generateSecret, safeEqual, sha256 } from './secrets.ts';

export type SecurityRequestType = 'invite' | 'reset';

/**
 * How long a link stays valid: an invitation waits for someone to read their mail and act on it;
 * a reset is asked for by the person who then uses it at once, so a short window limits exposure.
 */
export const SECURITY_REQUEST_LIFETIME_MS: Record<SecurityRequestType, number> = {
  invite: 7 * 24 * 60 * 60 * 1000,
  reset: 60 * 60 * 1000,
};

/** A pool, or a repository inside the caller's transaction. */
interface Queryable {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Medplum's set-password link: the app route that posts `auth/setpassword { id, secret, password }`. */
export function setPasswordUrl(appBaseUrl: string, id: string, secret: string): string {
  return `${appBaseUrl}setpassword/${id}/${secret}`;
}

/**
 * A new single-use request for the user to choose a password; earlier unused requests of the same
 * type are retired, so an older link that reached the wrong inbox stops working.
 */
export async function createSecurityRequest(
  db: Queryable,
  userId: string,
  type: SecurityRequestType,
): Promise<{ id: string; secret: string }> {
  const id = randomUUID();
  const secret = generateSecret(16);
  await db.query('UPDATE user_security_request SET used_at = now() WHERE user_id = $1 AND type = $2 AND used_at IS NULL', [userId, type]);
  await db.query(
    `INSERT INTO user_security_request (id, user_id, type, secret_sha256, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [id, userId, type, sha256(secret), SECURITY_REQUEST_LIFETIME_MS[type] / 1000],
  );
  return { id, secret };
}

/**
 * Problems with the link itself name no field: Medplum's SetPasswordForm shows only such issues
 * above the form (it has no id or secret input to attach them to).
 */
function refused(message: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message));
}

export class WrongSecretError extends OperationOutcomeError {
  constructor() {
    super(badRequest('Incorrect secret'));
  }
}

/**
 * Checks a request's secret and marks it used, in the caller's transaction; returns its user.
 * The UPDATE … WHERE used_at IS NULL is the compare-and-swap: of two concurrent uses of one link,
 * exactly one gets a row back.
 */
export async function consumeSecurityRequest(db: Queryable, id: string, secret: string): Promise<string> {
  const { rows } = await db.query<{ user_id: string; secret_sha256: string; used: boolean; expired: boolean }>(
    `SELECT user_id, secret_sha256, used_at IS NOT NULL AS used, expires_at <= now() AS expired
       FROM user_security_request WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = rows[0];
  if (!row) {
    throw new OperationOutcomeError({ ...outcome('not-found', `UserSecurityRequest ${id} not found`), id: 'not-found' });
  }
  if (!safeEqual(sha256(secret), row.secret_sha256)) {
    throw new WrongSecretError();
  }
  if (row.used) {
    throw refused('Already used: this link has been used or replaced by a newer one');
  }
  if (row.expired) {
    throw refused('This link has expired: ask for a new one');
  }
  const updated = await db.query('UPDATE user_security_request SET used_at = now() WHERE id = $1 AND used_at IS NULL', [id]);
  if (updated.rowCount !== 1) {
    throw refused('Already used: this link has been used or replaced by a newer one');
  }
  return row.user_id;
}
