import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { CarePlan, Encounter, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import { READY_TRANSITION, STEP_MAX_ATTEMPTS, STEP_SYSTEM, stepOf } from '../bots/lib/workflow.ts';
import { type BotConfig, type DeployedBot, deployBots } from '../scripts/deploy-bots.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** The Subscription an agent declares for its step: fires once when a Task of that step becomes ready. */
export function stepSubscription(step: string): Subscription {
  return {
    resourceType: 'Subscription',
    status: 'active',
    reason: `${step}: run the step when its Task becomes ready`,
    criteria: `Task?code=${STEP_SYSTEM}|${step}&status=ready`,
    channel: { type: 'rest-hook', endpoint: 'Bot/{{botId}}', payload: 'application/fhir+json' },
    extension: [
      { url: 'https://medplum.com/fhir/StructureDefinition/fhir-path-criteria-expression', valueString: READY_TRANSITION },
      { url: 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts', valueInteger: STEP_MAX_ATTEMPTS },
    ],
  };
}

/**
 * Deploys the fixture step agent (test/fixtures/bots/step-agent.ts) once per step name, under the
 * agent's bot name, so a workflow can run end to end before every real agent exists.
 */
export async function deployFixtureAgents(medplum: MedplumClient, steps: string[], role = 'workflow-bot'): Promise<DeployedBot[]> {
  const dir = mkdtempSync(join(tmpdir(), 'es-agents-'));
  try {
    const bots: BotConfig[] = steps.map((step) => {
      const subscriptions = join(dir, `${step}.subscriptions.json`);
      writeFileSync(subscriptions, JSON.stringify([stepSubscription(step)]));
      return {
        name: step,
        source: resolve(ROOT, 'test/fixtures/bots/step-agent.ts'),
        dist: join(dir, `${step}.js`),
        role,
        subscriptions,
      };
    });
    return await deployBots(medplum, { rootDir: ROOT, bots });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Waits until the encounter's workflow Task for `step` has ended (completed or failed) and returns it. */
export function waitForStep(medplum: MedplumClient, encounter: string, step: string, timeoutMs = 60_000): Promise<Task> {
  return waitFor(
    async () => {
      const tasks: Task[] = await medplum.searchResources('Task', { focus: encounter, _count: '20' }, { cache: 'no-cache' });
      const task = tasks.find((x) => stepOf(x) === step);
      return task?.status === 'completed' || task?.status === 'failed' ? task : undefined;
    },
    timeoutMs,
    `the ${step} step`,
  );
}

/**
 * Creates an Encounter and a resource of that visit (its `encounter` pointing at the new Encounter)
 * in one transaction, so the workflow that the Encounter starts already finds the resource.
 * Returns both ids.
 */
export async function createEncounterWith(
  medplum: MedplumClient,
  encounter: Encounter,
  resource: ServiceRequest | CarePlan,
): Promise<{ encounterId: string; resourceId: string }> {
  const fullUrl = `urn:uuid:${randomUUID()}`;
  const bundle = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl, request: { method: 'POST', url: 'Encounter' }, resource: encounter },
      { request: { method: 'POST', url: resource.resourceType }, resource: { ...resource, encounter: { reference: fullUrl } } },
    ],
  });
  const idOf = (i: number) => bundle.entry?.[i].response?.location?.split('/')[1] as string;
  return { encounterId: idOf(0), resourceId: idOf(1) };
}
