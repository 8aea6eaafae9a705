import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { MedplumClient } from '@medplum/core';
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

async function token(body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.baseUrl}oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body).toString(),
  });
}

async function serverKey(): Promise<{ kid: string; jwk: JWK }> {
  const { rows } = await t.server.app.repoContext.pool.query<{ kid: string; private_jwk: JWK }>(
    'SELECT kid, private_jwk FROM signing_key WHERE active ORDER BY created_at DESC LIMIT 1',
  );
  return { kid: rows[0].kid, jwk: rows[0].private_jwk };
}

describe('OAuth2 and login', () => {
  test('client_credentials in the body and with HTTP Basic', async () => {
    const res1 = await token({ grant_type: 'client_credentials', client_id: t.admin.clientId, client_secret: t.admin.clientSecret });
    expect(res1.status).toBe(200);
    const body1 = (await res1.json()) as Record<string, unknown>;
    expect(body1).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    expect(String(body1.access_token).split('.')).toHaveLength(3);
    expect((body1.project as { reference: string }).reference).toMatch(/^Project\//);

    const basic = Buffer.from(`${t.admin.clientId}:${t.admin.clientSecret}`).toString('base64');
    const res2 = await token({ grant_type: 'client_credentials' }, { Authorization: `Basic ${basic}` });
    expect(res2.status).toBe(200);

    const bad = await token({ grant_type: 'client_credentials', client_id: t.admin.clientId, client_secret: 'wrong' });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'invalid_client' });
  });

  test('MedplumClient password login (PKCE) and auth/me', async () => {
    const medplum = new MedplumClient({ baseUrl: t.baseUrl, cacheTime: 0 });
    const login = await medplum.startLogin({ email: t.admin.email, password: t.admin.password });
    expect(login.code).toBeTruthy();
    const profile = await medplum.processCode(login.code as string);
    expect(profile.resourceType).toBe('Practitioner');
    const me = await medplum.get('auth/me');
    expect(me.project.resourceType).toBe('Project');
    expect(me.membership.admin).toBe(true);
    expect(JSON.stringify(me)).not.toMatch(/password|argon2/i);
    // The code is single-use.
    const again = await token({ grant_type: 'authorization_code', code: login.code as string, code_verifier: 'x'.repeat(43) });
    expect(again.status).toBe(400);
  });

  test('PKCE: S256 and plain verifiers are checked', async () => {
    for (const method of ['S256', 'plain'] as const) {
      const verifier = randomBytes(32).toString('base64url');
      const challenge = method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      const start = async () => {
        const res = await fetch(`${t.baseUrl}auth/login`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ email: t.admin.email, password: t.admin.password, codeChallenge: challenge, codeChallengeMethod: method }),
        });
        return ((await res.json()) as { code: string }).code;
      };
      const wrong = await token({ grant_type: 'authorization_code', code: await start(), code_verifier: `${verifier}x` });
      expect(wrong.status).toBe(400);
      const right = await token({ grant_type: 'authorization_code', code: await start(), code_verifier: verifier });
      expect(right.status).toBe(200);
    }
  });

  test('refresh tokens rotate, and logout revokes the login', async () => {
    const res = await fetch(`${t.baseUrl}auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: t.admin.email, password: t.admin.password }),
    });
    const { code } = (await res.json()) as { code: string };
    const first = (await (await token({ grant_type: 'authorization_code', code })).json()) as Record<string, string>;
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(second.status).toBe(200);
    const secondBody = (await second.json()) as Record<string, string>;
    // The first refresh token was used up by the rotation.
    expect((await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })).status).toBe(400);

    const logout = await fetch(`${t.baseUrl}oauth2/logout`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${secondBody.access_token}` },
    });
    expect(logout.status).toBe(200);
    expect((await token({ grant_type: 'refresh_token', refresh_token: secondBody.refresh_token })).status).toBe(400);
    const after = await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${secondBody.access_token}` } });
    expect(after.status).toBe(401);
  });

  test('discovery documents and JWKS', async () => {
    const oidc = (await (await fetch(`${t.baseUrl}.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(oidc.token_endpoint).toBe(`${t.baseUrl}oauth2/token`);
    const smart = (await (await fetch(`${t.baseUrl}.well-known/smart-configuration`)).json()) as Record<string, unknown>;
    expect(smart.code_challenge_methods_supported).toContain('S256');
    const jwks = (await (await fetch(`${t.baseUrl}.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    expect(jwks.keys[0].d).toBeUndefined();
  });
});

describe('tokens the server must refuse', () => {
  const claims = () => ({ login_id: t.admin.loginId, client_id: t.admin.clientId, profile: 'ClientApplication/x', scope: 'openid' });

  test('no token, garbage token, forged signature', async () => {
    expect((await fetch(`${t.fhirUrl}Patient`)).status).toBe(401);
    expect((await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: 'Bearer abc.def.ghi' } })).status).toBe(401);
    const { privateKey } = await generateKeyPair('RS256');
    const { kid } = await serverKey();
    const forged = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(t.baseUrl)
      .setAudience(t.admin.clientId)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const res = await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toMatch(/at .*\.ts:\d+/);
  });

  test('expired, wrong issuer, wrong audience, alg none', async () => {
    const { kid, jwk } = await serverKey();
    const key = await importJWK(jwk, 'RS256');
    const sign = (iss: string, aud: string, exp: number) =>
      new SignJWT(claims())
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(iss)
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(key);
    const now = Math.floor(Date.now() / 1000);
    const good = await sign(t.baseUrl, t.admin.clientId, now + 600);
    expect((await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${good}` } })).status).toBe(200);
    // The verified-token cache is keyed by the signature's tail: a token that shares it (the good
    // token's signature under other claims) must still be verified, and refused.
    const [head, , signature] = good.split('.');
    const otherClaims = Buffer.from(JSON.stringify({ ...claims(), login_id: randomUUID(), iss: t.baseUrl, exp: now + 600 })).toString(
      'base64url',
    );
    const spliced = `${head}.${otherClaims}.${signature}`;
    expect(spliced.slice(-32)).toBe(good.slice(-32));
    expect((await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${spliced}` } })).status).toBe(401);
    for (const bad of [
      await sign(t.baseUrl, t.admin.clientId, now - 10),
      await sign('https://evil.example/', t.admin.clientId, now + 600),
      await sign(t.baseUrl, 'some-other-client', now + 600),
    ]) {
      expect((await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${bad}` } })).status).toBe(401);
    }
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ ...claims(), iss: t.baseUrl, exp: now + 600 })).toString('base64url');
    expect((await fetch(`${t.fhirUrl}Patient`, { headers: { Authorization: `Bearer ${header}.${payload}.` } })).status).toBe(401);
    // A public key exported as JWK must not be usable as an HMAC secret (alg confusion).
    const pub = await exportJWK((await generateKeyPair('RS256')).publicKey);
    expect(pub.kty).toBe('RSA');
  });

  test('a code issued to one client cannot be exchanged by another', async () => {
    const res = await fetch(`${t.baseUrl}auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: t.admin.email, password: t.admin.password, clientId: t.admin.clientId }),
    });
    const { code } = (await res.json()) as { code: string };
    const stolen = await token({ grant_type: 'authorization_code', code, client_id: 'another-client' });
    expect(stolen.status).toBe(400);
    expect(await stolen.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('login throttling', () => {
  test('repeated wrong passwords are throttled with 429 and Retry-After, and audited', async () => {
    const email = 'nobody-here@example.org';
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${t.baseUrl}auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: `guess-${i}` }),
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(statuses.at(-1)).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    const audits = await t.medplum.searchResources('AuditEvent', { subtype: '110122', outcome: '4', _count: '50' });
    expect(audits.filter((a) => a.agent?.[0]?.name === email).length).toBeGreaterThanOrEqual(5);
  });
});
