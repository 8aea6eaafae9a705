import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import helmet from 'helmet';
import { describe, expect, test } from 'vitest';
import { securityHeaders } from './security-headers.ts';

describe('securityHeaders', () => {
  test('are the headers helmet itself sets on a response, worked out once', async () => {
    const options = { contentSecurityPolicy: false, crossOriginResourcePolicy: { policy: 'same-site' as const } };
    const middleware = helmet(options);
    const server = createServer((req, res) => middleware(req, res, () => res.end('ok')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      const fromHelmet: Record<string, string> = {};
      res.headers.forEach((value, name) => {
        if (!['connection', 'content-length', 'date', 'keep-alive'].includes(name)) fromHelmet[name] = value;
      });
      const once = Object.fromEntries(Object.entries(securityHeaders(options)).map(([name, value]) => [name.toLowerCase(), value]));
      expect(once).toEqual(fromHelmet);
      expect(once['strict-transport-security']).toMatch(/^max-age=/);
      expect(once['content-security-policy']).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
