import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULT_CHANNELS_FILE, loadChannels, parseChannels } from './config.ts';

const ROOT = resolve(import.meta.dirname, '..');

function problems(input: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseChannels(input, { env, dir: resolve(ROOT, 'hl7-bridge/test-corpus/tls') });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('channels.json', () => {
  test('the shipped file: one commit-accept channel on 2575, no destinations; HL7_PORT and HL7_API_PORT override', () => {
    const c = loadChannels(resolve(ROOT, DEFAULT_CHANNELS_FILE), {});
    expect(c.inbound).toMatchObject([{ name: 'default', port: 2575, ackMode: 'commit', defaultCharset: 'UNICODE UTF-8' }]);
    expect(c.destinations).toEqual([]);
    expect(c.conversion).toMatchObject({ workers: 2, batchSize: 50, botIdentifier: 'https://emergisphere.dev/fhir/bot|hl7-inbound' });
    const env = loadChannels(resolve(ROOT, DEFAULT_CHANNELS_FILE), { HL7_PORT: '3575', HL7_API_PORT: '9105' });
    expect(env.inbound[0].port).toBe(3575);
    expect(env.api.port).toBe(9105);
  });

  test('schema violations are all listed with their JSON path', () => {
    expect(
      problems({
        inbound: [
          { name: 'a', port: 'x' },
          { name: 'b', port: 1, ackMode: 'sometimes', color: 'red' },
        ],
      }),
    ).toEqual([
      '/inbound/0/port must be integer',
      '/inbound/1 must NOT have additional properties',
      '/inbound/1/ackMode must be equal to one of the allowed values: commit, application',
    ]);
  });

  test('what a schema cannot check: duplicates, files, charsets, message types, ports', () => {
    expect(
      problems(
        {
          inbound: [
            { name: 'a', port: 2575, tls: { cert: 'server.crt', key: 'missing.key' }, defaultCharset: 'EBCDIC', messageTypes: ['ADT^A31'] },
            { name: 'a', port: 2575 },
          ],
          destinations: [{ name: 'ehr', host: 'h', port: 1, messageTypes: ['SIU^S12'], backoffInitialMs: 5000, backoffMaxMs: 100 }],
          api: { port: 2575 },
        },
        { HL7_PORT: 'abc' },
      ),
    ).toEqual([
      'HL7_PORT="abc" is not a port number',
      '/inbound/0 (a): defaultCharset "EBCDIC" is not supported',
      expect.stringMatching(/^\/inbound\/0 \(a\): message type ADT\^A31 is not supported/),
      `/inbound/0 (a) tls.key: ${resolve(ROOT, 'hl7-bridge/test-corpus/tls/missing.key')} does not exist`,
      expect.stringMatching(/^\/destinations\/0 \(ehr\): outbound message type SIU\^S12 is not produced/),
      '/destinations/0 (ehr): backoffInitialMs exceeds backoffMaxMs',
      'inbound channel name "a" is used twice',
      'inbound port 0.0.0.0:2575 is used twice',
      "the API port 2575 is also an inbound channel's port",
    ]);
  });

  test('TLS files are read relative to the configuration', () => {
    const c = parseChannels(
      { inbound: [{ name: 's', port: 0, tls: { cert: 'server.crt', key: 'server.key', ca: 'ca.crt', requestCert: true } }] },
      { dir: resolve(ROOT, 'hl7-bridge/test-corpus/tls'), env: {} },
    );
    expect(c.inbound[0].tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(c.inbound[0].tls?.requestCert).toBe(true);
  });
});
