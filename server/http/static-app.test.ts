import { describe, expect, test } from 'vitest';
import { isAppPath } from './static-app.ts';

describe('isAppPath', () => {
  test("the app's routes, including its administration pages", () => {
    for (const path of ['/', '/Encounter/123', '/devices', '/admin', '/admin/members', '/admin/access-policies/abc', '/bots/1']) {
      expect(isAppPath(path), path).toBe(true);
    }
  });

  test('the API, including the admin API branches', () => {
    for (const path of [
      '/fhir/R4/Patient',
      '/auth/me',
      '/oauth2/token',
      '/admin/projects/p1',
      '/admin/projects/p1/members/m1',
      '/admin/subscriptions/dead-letters',
      '/admin/hl7/messages',
      '/healthcheck',
    ]) {
      expect(isAppPath(path), path).toBe(false);
    }
  });
});
