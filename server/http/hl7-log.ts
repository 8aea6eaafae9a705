import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { Project } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { PostgresRepository } from '../fhir/repo.ts';

/**
 * The HL7 bridge's message log and error queue for the app's admin screen, on the server's own
 * origin: the bridge listens on its own port (its URL is the project secret HL7_BRIDGE_URL) and
 * answers with the caller's own token, so the bridge still decides who may see messages.
 */
export function registerHl7LogRoute(fastify: FastifyInstance, systemRepo: () => PostgresRepository): void {
  fastify.get('/admin/hl7/messages', async (request, reply) => {
    const auth = request.auth;
    if (!auth?.membership.admin) throw new OperationOutcomeError(forbidden);
    const project = await systemRepo().readResource<Project>('Project', auth.project.id as string);
    const url = project.secret?.find((s) => s.name === 'HL7_BRIDGE_URL')?.valueString;
    if (!url) return reply.send({ entries: [], errors: [] });
    const get = async (path: string) => {
      const res = await fetch(new URL(path, url), { headers: { authorization: request.headers.authorization ?? '' } });
      if (!res.ok)
        throw new OperationOutcomeError({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'transient', diagnostics: `HL7 bridge answered ${res.status}` }],
        });
      return ((await res.json()) as { entries: unknown[] }).entries;
    };
    try {
      const [entries, errors] = await Promise.all([get('hl7/messages?_count=50'), get('hl7/errors?_count=50')]);
      return reply.send({ url, entries, errors });
    } catch (err) {
      if (err instanceof OperationOutcomeError) throw err;
      return reply.code(502).send({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'transient', diagnostics: 'The HL7 bridge is not reachable' }],
      });
    }
  });
}
