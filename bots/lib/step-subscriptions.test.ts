import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Subscription } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { readBotConfig } from '../../scripts/deploy-bots.ts';
import { stepSubscription } from '../../test/workflow-agents.ts';
import { STEP_CODES, STEP_SYSTEM } from './workflow.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** Every agent that runs a workflow step must fire exactly once per ready transition, with the shared attempt limit. */
describe('agents subscribe to their workflow steps the same way', () => {
  const bots = readBotConfig(ROOT).filter((b) => b.subscriptions);
  const stepSubs = bots.flatMap((bot) =>
    (JSON.parse(readFileSync(resolve(ROOT, bot.subscriptions as string), 'utf8')) as Subscription[])
      .filter((s) => s.criteria.startsWith(`Task?code=${STEP_SYSTEM}|`) && s.criteria.includes('status=ready'))
      .map((s) => ({ bot: bot.name, sub: s })),
  );

  test('there is at least the triage, smart-device and communication step subscriptions', () => {
    expect(stepSubs.map((s) => s.bot).sort()).toEqual(expect.arrayContaining(['communication', 'smart-device', 'triage']));
  });

  test.each(stepSubs.map((s) => [s.bot, s.sub] as const))('%s: criteria, ready-transition FHIRPath and max attempts', (_bot, sub) => {
    const step = /\|([a-z-]+)&status=ready$/.exec(sub.criteria)?.[1] as string;
    expect(STEP_CODES).toContain(step);
    const expected = stepSubscription(step);
    expect(sub.criteria).toBe(expected.criteria);
    expect(sub.extension).toEqual(expected.extension);
    expect(sub.channel).toEqual(expected.channel);
  });
});
