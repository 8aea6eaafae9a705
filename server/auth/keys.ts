import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type pg from 'pg';

const ALG = 'RS256';
const KEY_LOCK = 727_002;

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** The server's token keys: one signs, every active one verifies (so keys can rotate). */
export class KeyStore {
  readonly issuer: string;
  private signingKid = '';
  private signingKey: VerifyKey | undefined;
  private readonly publicKeys = new Map<string, VerifyKey>();
  private publicJwks: JWK[] = [];

  constructor(issuer: string) {
    this.issuer = issuer;
  }

  /** Loads the active keys, generating and persisting the first one on a new database. */
  async load(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    try {
      // Two instances starting at once must not each create a different first key.
      await client.query('SELECT pg_advisory_lock($1)', [KEY_LOCK]);
      let { rows } = await client.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>(
        'SELECT kid, private_jwk, public_jwk FROM signing_key WHERE active ORDER BY created_at DESC',
      );
      if (rows.length === 0) {
        const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
        const kid = randomUUID();
        const priv = { ...(await exportJWK(privateKey)), kid, alg: ALG, use: 'sig' };
        const pub = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
        await client.query('INSERT INTO signing_key (kid, private_jwk, public_jwk) VALUES ($1, $2, $3)', [kid, priv, pub]);
        rows = [{ kid, private_jwk: priv, public_jwk: pub }];
      }
      this.publicKeys.clear();
      for (const row of rows) {
        this.publicKeys.set(row.kid, await importJWK(row.public_jwk, ALG));
      }
      this.publicJwks = rows.map((r) => r.public_jwk);
      this.signingKid = rows[0].kid;
      this.signingKey = await importJWK(rows[0].private_jwk, ALG);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [KEY_LOCK]).catch(() => undefined);
      client.release();
    }
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwks };
  }

  async sign(claims: JWTPayload, lifetimeSeconds: number, audience?: string): Promise<string> {
    if (!this.signingKey) {
      throw new Error('Signing key not loaded');
    }
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid: this.signingKid, typ: 'JWT' })
      .setIssuedAt()
      .setIssuer(this.issuer)
      .setExpirationTime(Math.floor(Date.now() / 1000) + lifetimeSeconds);
    if (audience) {
      jwt.setAudience(audience);
    }
    return jwt.sign(this.signingKey);
  }

  /** Verifies signature, algorithm, issuer and expiry; throws on any failure. */
  async verify(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = header.kid ? this.publicKeys.get(header.kid) : undefined;
        if (!key) {
          throw new Error('Unknown key');
        }
        return key;
      },
      { issuer: this.issuer, algorithms: [ALG] },
    );
    return payload;
  }
}
