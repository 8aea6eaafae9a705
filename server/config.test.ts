import { describe, expect, test } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig: AUDIT_READS', () => {
  // EMERGISPHERE_CONFIG points at nothing readable so a local server-config/server.json cannot leak in.
  const env = (extra: NodeJS.ProcessEnv) => ({ EMERGISPHERE_CONFIG: '', ...extra });

  test('defaults to committed: a read is answered only after its audit commit', () => {
    expect(loadConfig(env({})).auditReads).toBe('committed');
    expect(loadConfig(env({ AUDIT_READS: 'committed' })).auditReads).toBe('committed');
  });

  test('buffered is an explicit opt-in', () => {
    expect(loadConfig(env({ AUDIT_READS: 'buffered' })).auditReads).toBe('buffered');
  });

  test('anything else is refused at start with the variable named', () => {
    expect(() => loadConfig(env({ AUDIT_READS: 'async' }))).toThrow(/AUDIT_READS must be committed or buffered/);
  });
});
