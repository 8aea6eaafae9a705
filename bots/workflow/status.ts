/** The state of one workflow instance as the status operation reports it. Pure. */
import type { Parameters, ParametersParameter, RequestGroup, Task } from '@medplum/fhirtypes';
import { stepOf } from '../lib/workflow.ts';
import { stepIdOf } from './plan.ts';

export interface StepStatus {
  step: string;
  code: string;
  title: string;
  status: Task['status'];
  task: string;
  agent?: string;
  authoredOn?: string;
  started?: string;
  ended?: string;
  /** From ready/created to started. */
  waitMs?: number;
  /** From started to ended. */
  durationMs?: number;
  note?: string;
  reason?: string;
  outputs: string[];
}

export interface WorkflowStatus {
  plan: string;
  requestGroup: string;
  status: RequestGroup['status'];
  authoredOn?: string;
  steps: StepStatus[];
}

const ms = (from?: string, to?: string): number | undefined => (from && to ? Date.parse(to) - Date.parse(from) : undefined);

export function workflowStatus(group: RequestGroup, tasks: Task[]): WorkflowStatus {
  const byStep = new Map<string, Task>();
  for (const task of tasks) {
    const id = stepIdOf(group, task);
    if (id) byStep.set(id, task);
  }
  const steps: StepStatus[] = [];
  for (const action of group.action ?? []) {
    const task = action.id ? byStep.get(action.id) : undefined;
    if (!task || !action.id) continue;
    const started = task.executionPeriod?.start;
    const ended = task.executionPeriod?.end;
    steps.push({
      step: action.id,
      code: stepOf(task) ?? action.id,
      title: action.title ?? action.id,
      status: task.status,
      task: `Task/${task.id}`,
      agent: task.owner?.reference ?? task.owner?.display,
      authoredOn: task.authoredOn,
      started,
      ended,
      waitMs: ms(task.authoredOn, started),
      durationMs: ms(started, ended),
      note: task.businessStatus?.text,
      reason: task.statusReason?.text,
      outputs: (task.output ?? []).map((o) => o.valueReference?.reference ?? `${o.type?.text}: ${o.valueString ?? ''}`),
    });
  }
  return {
    plan: group.instantiatesCanonical?.[0] ?? '',
    requestGroup: `RequestGroup/${group.id}`,
    status: group.status,
    authoredOn: group.authoredOn,
    steps,
  };
}

function part(name: string, value: string | number | undefined): ParametersParameter[] {
  if (value === undefined || value === '') return [];
  return [typeof value === 'number' ? { name, valueDecimal: value } : { name, valueString: value }];
}

/** The status as a FHIR Parameters resource (what the `$workflow-status` operation returns). */
export function statusParameters(workflows: WorkflowStatus[]): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: workflows.map((w) => ({
      name: 'workflow',
      part: [
        ...part('plan', w.plan),
        { name: 'requestGroup', valueReference: { reference: w.requestGroup } },
        ...part('status', w.status),
        ...part('authoredOn', w.authoredOn),
        ...w.steps.map((s) => ({
          name: 'step',
          part: [
            ...part('step', s.step),
            ...part('code', s.code),
            ...part('title', s.title),
            ...part('status', s.status),
            { name: 'task', valueReference: { reference: s.task } },
            ...part('agent', s.agent),
            ...part('authoredOn', s.authoredOn),
            ...part('started', s.started),
            ...part('ended', s.ended),
            ...part('waitMs', s.waitMs),
            ...part('durationMs', s.durationMs),
            ...part('note', s.note),
            ...part('reason', s.reason),
            ...s.outputs.map((o) => ({ name: 'output', valueString: o })),
          ],
        })),
      ],
    })),
  };
}
