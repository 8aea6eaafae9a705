import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/** A new random secret (hex): 32 bytes for client and refresh secrets, 16 for codes. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two hex digests (or any strings of equal meaning). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** PKCE (RFC 7636): S256 or plain. */
export function verifyPkce(challenge: string, method: string | null | undefined, verifier: string): boolean {
  if (!verifier) {
    return false;
  }
  if (method === 'S256') {
    const computed = createHash('sha256').update(verifier).digest('base64url');
    return safeEqual(computed, challenge);
  }
  if (method === 'plain' || !method) {
    return safeEqual(verifier, challenge);
  }
  return false;
}
