import { describe, expect, test } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig: AUDIT_JOURNAL_DIR', () => {
  // EMERGISPHERE_CONFIG points at nothing readable so a local server-config/server.json cannot leak in.
  const env = (extra: NodeJS.ProcessEnv) => ({ EMERGISPHERE_CONFIG: '', ...extra });

  test('journals audit records under ./data by default', () => {
    expect(loadConfig(env({})).auditJournalDir).toBe('./data/audit-journal');
    expect(loadConfig(env({ AUDIT_JOURNAL_DIR: '' })).auditJournalDir).toBe('./data/audit-journal');
  });

  test('a folder of the operator’s choice, or off (every audited answer waits for its commit)', () => {
    expect(loadConfig(env({ AUDIT_JOURNAL_DIR: '/var/lib/emergisphere/audit' })).auditJournalDir).toBe('/var/lib/emergisphere/audit');
    expect(loadConfig(env({ AUDIT_JOURNAL_DIR: 'off' })).auditJournalDir).toBeUndefined();
  });
});
