import { describe, expect, test } from 'vitest';
import { availableJurisdictions, durationMs, FINDING_TYPES, RULE_FILES, type RuleFile, resolveRuleSet } from './rules.ts';

describe('the shipped rule files', () => {
  test.each(availableJurisdictions())('%s: valid, one rule per finding, each citing its statute and HIPAA paragraph', (code) => {
    const set = resolveRuleSet(code);
    expect(set.rules.map((r) => r.finding).sort()).toEqual([...FINDING_TYPES].sort());
    for (const rule of set.rules) {
      expect(rule.legalBasis.statute.length).toBeGreaterThan(10);
      expect(rule.legalBasis.hipaa).toMatch(/^45 CFR 164\.512\(/);
      expect(durationMs(rule.deadline.duration)).toBeGreaterThan(0);
    }
  });

  test('a state rule replaces the default rule of its finding, keeping its triggers', () => {
    const ca = resolveRuleSet('US-CA');
    const gun = ca.rules.find((r) => r.finding === 'gunshot-wound');
    const base = resolveRuleSet('default').rules.find((r) => r.finding === 'gunshot-wound');
    expect(gun?.id).toBe('ca-firearm-injury');
    expect(gun?.action).toBe('report');
    expect(gun?.legalBasis.statute).toMatch(/Cal\. Penal Code § 11160/);
    expect(gun?.triggers).toEqual(base?.triggers);
    expect(ca.relationships.map((r) => r.id)).toContain('intimate-partner');
    // New York has no general elder-abuse mandate: documentation, not a report.
    expect(resolveRuleSet('US-NY').rules.find((r) => r.finding === 'elder-abuse')?.action).toBe('document');
  });

  test('a bad file fails at load, naming every problem', () => {
    const bad: RuleFile = {
      jurisdiction: 'XX',
      name: 'Nowhere',
      version: '0',
      extends: 'default',
      rules: [
        { id: 'x1', basedOn: 'nope' },
        {
          id: 'x2',
          finding: 'assault',
          title: 'Assault',
          action: 'report',
          severity: 'high',
          triggers: [{ all: [{ label: 'x', complaints: ['no-such-complaint'] }] }],
          deadline: { duration: 'soon', text: '' },
          legalBasis: { statute: '', hipaa: '164.512', purposeOfUse: 'HLEGAL', text: '' },
        },
      ],
    };
    expect(() => resolveRuleSet('XX', [...RULE_FILES, bad])).toThrow(
      /basedOn unknown rule "nope".*x2: a report rule needs an authority.*x2: no statute cited.*is not a 45 CFR 164.512 paragraph.*deadline "soon".*unknown triage complaint "no-such-complaint"/s,
    );
    expect(() => resolveRuleSet('US-TX')).toThrow(/No legal rules for jurisdiction "US-TX"/);
  });

  test('durations', () => {
    expect(durationMs('PT1H')).toBe(3_600_000);
    expect(durationMs('P1D')).toBe(86_400_000);
    expect(durationMs('P1DT2H30M')).toBe((26 * 60 + 30) * 60_000);
    expect(() => durationMs('P')).toThrow();
    expect(() => durationMs('1 hour')).toThrow();
  });
});
