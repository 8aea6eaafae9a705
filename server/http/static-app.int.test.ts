import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/server.ts';

let t: TestServer;
let appDir: string;

beforeAll(async () => {
  appDir = mkdtempSync(join(tmpdir(), 'app-dist-'));
  writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>app shell</title>');
  t = await startTestServer({ appDir });
});
afterAll(async () => {
  await t?.close();
  rmSync(appDir, { recursive: true, force: true });
});

const page = (path: string, accept = 'text/html') => fetch(`${t.baseUrl}${path.slice(1)}`, { headers: { accept } });

describe('the app shell and the admin API side by side', () => {
  test("a reload of an administration page gets the app's index.html, without a token", async () => {
    for (const path of ['/admin', '/admin/members', '/admin/access-policies/123', '/bots/abc', '/Bot/abc/editor']) {
      const res = await page(path);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toContain('app shell');
    }
  });

  test('the admin API still needs a token, and answers JSON to an authorized call', async () => {
    const me = (await t.medplum.get('auth/me')) as { project: { id: string } };
    expect((await page(`/admin/projects/${me.project.id}`)).status).toBe(401);
    expect((await page('/admin/subscriptions/dead-letters', 'application/json')).status).toBe(401);
    const res = await fetch(`${t.baseUrl}admin/projects/${me.project.id}`, { headers: { authorization: t.authorization } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { project: { id: string } }).project.id).toBe(me.project.id);
  });

  test('an unknown non-page path under /admin is a 404 OperationOutcome, not the app', async () => {
    const res = await page('/admin/nothing-here', 'application/json');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });
});
