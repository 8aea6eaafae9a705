import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { CodeSystem, CodeSystemConceptProperty, Coding, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON } from '../../http/outcomes.ts';
import type { TerminologyCatalog } from '../terminology/catalog.ts';
import { findConcept } from '../terminology/expansion.ts';
import { requestResolver } from '../terminology/resolver.ts';
import { operationInput } from './input.ts';
import type { RouteDeps } from './routes.ts';

function propertyValue(p: CodeSystemConceptProperty): ParametersParameter {
  const [k, v] = Object.entries(p).find(([key]) => key.startsWith('value')) ?? ['valueString', ''];
  return { name: 'value', [k]: v } as ParametersParameter;
}

/** The R4 `$lookup` output: name, version, display, designation and property parts. */
export function lookupResult(cs: CodeSystem, code: string): Parameters {
  const concept = findConcept(cs, code);
  if (!concept) {
    throw new OperationOutcomeError(badRequest(`Code "${code}" not found in ${cs.url}`, 'code'));
  }
  const parameter: ParametersParameter[] = [{ name: 'name', valueString: cs.title ?? cs.name ?? cs.url }];
  if (cs.version) parameter.push({ name: 'version', valueString: cs.version });
  if (concept.display) parameter.push({ name: 'display', valueString: concept.display });
  if (concept.definition) {
    parameter.push({
      name: 'property',
      part: [
        { name: 'code', valueCode: 'definition' },
        { name: 'value', valueString: concept.definition },
      ],
    });
  }
  for (const d of concept.designation ?? []) {
    parameter.push({
      name: 'designation',
      part: [
        ...(d.language ? [{ name: 'language', valueCode: d.language }] : []),
        ...(d.use ? [{ name: 'use', valueCoding: d.use }] : []),
        { name: 'value', valueString: d.value },
      ],
    });
  }
  for (const p of concept.property ?? []) {
    const description = cs.property?.find((def) => def.code === p.code)?.description;
    parameter.push({
      name: 'property',
      part: [
        { name: 'code', valueCode: p.code },
        ...(description ? [{ name: 'description', valueString: description }] : []),
        propertyValue(p),
      ],
    });
  }
  for (const child of concept.concept ?? []) {
    parameter.push({
      name: 'property',
      part: [
        { name: 'code', valueCode: 'child' },
        { name: 'value', valueCode: child.code },
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}

/** `CodeSystem/$lookup` (GET `system` + `code`, or POST Parameters with those or a `coding`). */
export function registerLookupRoutes(fastify: FastifyInstance, deps: RouteDeps & { terminology: TerminologyCatalog }): void {
  const handler = async (request: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => {
    const input = operationInput(request.query, request.method === 'POST' ? request.body : undefined);
    const repo = deps.repoFor(request);
    const coding = input.get('coding') as Coding | undefined;
    const system = (input.get('system') as string | undefined) ?? coding?.system;
    const code = (input.get('code') as string | undefined) ?? coding?.code;
    if (typeof code !== 'string' || !code) {
      throw new OperationOutcomeError(badRequest('Missing code (or coding)', 'code'));
    }
    let cs: CodeSystem | undefined;
    if (request.params.id) {
      cs = await repo.readResource<CodeSystem>('CodeSystem', request.params.id);
    } else {
      if (typeof system !== 'string' || !system) {
        throw new OperationOutcomeError(badRequest('Missing system (or coding)', 'system'));
      }
      cs = await requestResolver(repo, deps.terminology).codeSystem(system.split('|')[0]);
      if (!cs) {
        throw new OperationOutcomeError(badRequest(`Code system ${system} not found`, 'system'));
      }
    }
    return reply.type(FHIR_JSON).send(JSON.stringify(lookupResult(cs, code)));
  };
  for (const url of ['/fhir/R4/CodeSystem/$lookup', '/fhir/R4/CodeSystem/:id/$lookup']) {
    fastify.get(url, handler);
    fastify.post(url, handler);
  }
}
