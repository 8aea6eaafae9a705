import { allOk, badRequest, getExtension, getStatus, isResource, OperationOutcomeError, type WithId } from '@medplum/core';
import type {
  Bot,
  OperationDefinition,
  OperationDefinitionParameter,
  OperationOutcome,
  Parameters,
  ParametersParameter,
  Reference,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import type { AuthContext } from '../../auth/context.ts';
import type { BotRuntime } from '../../bots/runtime.ts';
import type { PostgresRepository } from '../repo.ts';

/** Medplum's extension linking an OperationDefinition to the Bot that implements it. */
export const IMPLEMENTATION_EXTENSION = 'https://medplum.com/fhir/StructureDefinition/operationDefinition-implementation';

/** Enough definitions to choose from; one code is rarely defined more than a few times. */
const MAX_DEFINITIONS = 100;

export type OperationTarget =
  | { level: 'system' }
  | { level: 'type'; resourceType: string }
  | { level: 'instance'; resourceType: string; id: string };

/**
 * Where `$code` sits in a FHIR path ("Encounter/1/$x" → instance, "Encounter/$x" → type, "$x" →
 * system); undefined when the path names no operation.
 */
export function operationTarget(segments: string[]): { code: string; target: OperationTarget } | undefined {
  const at = segments.findIndex((s) => s.startsWith('$'));
  if (at < 0 || at !== segments.length - 1) {
    return undefined;
  }
  const code = segments[at].slice(1);
  if (at === 2) {
    return { code, target: { level: 'instance', resourceType: segments[0], id: segments[1] } };
  }
  if (at === 1) {
    return { code, target: { level: 'type', resourceType: segments[0] } };
  }
  return at === 0 ? { code, target: { level: 'system' } } : undefined;
}

function botReference(op: OperationDefinition): Reference<Bot> | undefined {
  const ref = getExtension(op, IMPLEMENTATION_EXTENSION)?.valueReference;
  return ref?.reference?.startsWith('Bot/') ? (ref as Reference<Bot>) : undefined;
}

/**
 * The bot-implemented definition that fits the request best: declared for this level and
 * resource type first, then for this level and any type, then any definition of the code (as
 * Medplum does, so a lone definition keeps working when called at another level).
 */
export function chooseDefinition(
  definitions: OperationDefinition[],
  target: OperationTarget,
): { definition: OperationDefinition; bot: Reference<Bot> } | undefined {
  let best: { definition: OperationDefinition; bot: Reference<Bot>; score: number } | undefined;
  for (const definition of definitions) {
    const bot = botReference(definition);
    if (!bot) {
      continue;
    }
    let score = 0;
    if (target.level === 'system') {
      score = definition.system ? 4 : 0;
    } else if (target.level === 'type' ? definition.type : definition.instance) {
      if (definition.resource?.includes(target.resourceType as ResourceType)) {
        score = 4;
      } else if (!definition.resource?.length) {
        score = 2;
      }
    }
    if (!best || score > best.score) {
      best = { definition, bot, score };
    }
  }
  return best && { definition: best.definition, bot: best.bot };
}

function parameterValue(param: OperationDefinitionParameter, value: unknown): ParametersParameter {
  const name = param.name as string;
  if (isResource(value)) {
    return { name, resource: value };
  }
  // value[x] keys capitalise the type: string → valueString, Reference → valueReference.
  const type = param.type ?? (typeof value === 'boolean' ? 'boolean' : typeof value === 'number' ? 'decimal' : 'string');
  return { name, [`value${type[0].toUpperCase()}${type.slice(1)}`]: value } as ParametersParameter;
}

/**
 * The reply of a custom operation, shaped by its declared out-parameters as Medplum shapes it:
 * a Parameters result is returned as is; a single out-parameter named `return` returns the
 * resource itself; otherwise each out-parameter is read from the bot's returned object.
 */
export function buildOutput(definition: OperationDefinition, value: unknown): Resource {
  if (isResource(value, 'Parameters')) {
    return value;
  }
  const outs = (definition.parameter ?? []).filter((p) => p.use === 'out');
  if (outs.length === 1 && outs[0].name === 'return') {
    const expected = outs[0].type;
    if (!isResource(value) || (expected && expected !== 'Resource' && value.resourceType !== expected)) {
      throw new OperationOutcomeError(badRequest(`Operation ${definition.code} must return ${expected ?? 'a resource'}`));
    }
    return value;
  }
  const parameter: ParametersParameter[] = [];
  const record = (value ?? {}) as Record<string, unknown>;
  for (const out of outs) {
    const v = record[out.name as string];
    if (v === undefined) {
      if ((out.min ?? 0) > 0) {
        throw new OperationOutcomeError(badRequest(`Operation ${definition.code} did not return required parameter ${out.name}`));
      }
      continue;
    }
    for (const item of Array.isArray(v) ? v : [v]) {
      parameter.push(parameterValue(out, item));
    }
  }
  return { resourceType: 'Parameters', parameter } satisfies Parameters;
}

export interface CustomOperationRequest {
  method: string;
  segments: string[];
  body: unknown;
  query: Record<string, unknown>;
  contentType: string;
  headers: Record<string, string>;
  traceId?: string;
}

export type CustomOperationResult = { status: number; resource: Resource } | { status: number; outcome: OperationOutcome };

/**
 * Medplum's custom FHIR operations: `[base]/[Type]/[id]/$code` (and type and system level) runs the
 * Bot named by the OperationDefinition whose `code` matches. The caller must be allowed to read
 * that Bot (its AccessPolicy decides who may invoke, as in Medplum); the bot then runs as its own membership,
 * with the caller as `event.requester`. An instance-level call hands the bot the resource (read
 * with the caller's policy); type and system calls hand it the body (POST) or the query (GET).
 * Returns undefined when no bot implements the code, so the caller answers 404 as before.
 */
export async function tryCustomOperation(
  req: CustomOperationRequest,
  repos: { caller: PostgresRepository; system: PostgresRepository },
  bots: BotRuntime,
  auth: AuthContext,
): Promise<CustomOperationResult | undefined> {
  const parsed = operationTarget(req.segments);
  if (!parsed) {
    return undefined;
  }
  const repo = repos.caller;
  // Definitions are configuration everyone may use; who may run one is decided by the Bot read below.
  const definitions = await repos.system.searchResources<OperationDefinition>({
    resourceType: 'OperationDefinition',
    filters: [{ code: 'code', operator: 'exact', value: parsed.code }],
    count: MAX_DEFINITIONS,
  });
  const chosen = chooseDefinition(definitions, parsed.target);
  if (!chosen) {
    return undefined;
  }
  const bot = (await repo.readReference<Bot>(chosen.bot)) as WithId<Bot>;
  let input: unknown;
  let contentType = req.contentType;
  if (parsed.target.level === 'instance' && chosen.definition.instance) {
    input = await repo.readResource(parsed.target.resourceType as ResourceType, parsed.target.id);
    contentType = 'application/fhir+json';
  } else if (req.method === 'POST') {
    input = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : req.body;
  } else {
    input = req.query;
    contentType = 'application/json';
  }
  const result = await bots.executeBot(
    bot,
    { input, contentType, headers: req.headers, traceId: req.traceId, requester: auth.profile },
    auth.project.id,
  );
  if (!result.ok) {
    const oo = badRequest(result.error ?? 'Operation failed');
    return { status: 400, outcome: oo };
  }
  if (result.returnValue === undefined) {
    return { status: 200, outcome: allOk };
  }
  // A bot answers a refusal (a conflict, a missing resource…) by returning an OperationOutcome
  // with an error issue: the reply carries the status its issue code stands for (409, 404, 422…).
  const refusal = errorOutcome(result.returnValue);
  if (refusal) {
    return { status: refusalStatus(refusal), outcome: refusal };
  }
  return { status: 200, resource: buildOutput(chosen.definition, result.returnValue) };
}

function errorOutcome(value: unknown): OperationOutcome | undefined {
  if (!isResource(value, 'OperationOutcome')) return undefined;
  const outcome = value as OperationOutcome;
  return outcome.issue?.some((i) => i.severity === 'error' || i.severity === 'fatal') ? outcome : undefined;
}

/** 4xx only: a bot may refuse a request, but a server error is never the bot's to declare. */
function refusalStatus(outcome: OperationOutcome): number {
  const status = getStatus(outcome);
  return status >= 400 && status < 500 ? status : 400;
}
