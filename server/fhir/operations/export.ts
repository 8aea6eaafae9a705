import { randomUUID } from 'node:crypto';
import { badRequest, notFound, OperationOutcomeError } from '@medplum/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { outcome, sendOutcome } from '../../http/outcomes.ts';
import { type ExportRequest, parametersAsQuery, parseExportRequest } from '../export/params.ts';
import { ExportRunner, type ExportRunnerConfig } from '../export/runner.ts';
import type { PostgresRepository, RepositoryOptions } from '../repo.ts';
import type { RouteDeps } from './routes.ts';

/**
 * FHIR Bulk Data `$export` (https://hl7.org/fhir/uv/bulkdata/export.html): `[base]/$export`,
 * `Patient/$export` and `Group/{id}/$export`, GET or POST. The kick-off needs
 * `Prefer: respond-async` and answers 202 with `Content-Location` = the job's status URL; polling
 * that answers 202 with `X-Progress` while the job runs and 200 with the manifest when it is done;
 * DELETE cancels the job (or removes a finished one). Output files are NDJSON, one type per file,
 * fetched with the same token as the kick-off (`requiresAccessToken`), by the same user only.
 */

export interface ExportRouteDeps extends RouteDeps {
  /** A repository; with a policy it acts as that caller (the job runs as the caller). */
  repo(options?: RepositoryOptions): PostgresRepository;
  logger: ExportRunnerConfig['logger'];
  runner?: Partial<ExportRunnerConfig>;
}

const STATUS_PATH = '/fhir/R4/bulkdata/:jobId';
const FILE_PATH = '/fhir/R4/bulkdata/:jobId/:fileName';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function requestParams(request: FastifyRequest): Record<string, string | string[] | undefined> {
  const query = (request.query ?? {}) as Record<string, string | string[] | undefined>;
  return request.method === 'POST' ? { ...query, ...parametersAsQuery(request.body) } : query;
}

export function registerExportRoutes(fastify: FastifyInstance, deps: ExportRouteDeps): ExportRunner {
  const runner = new ExportRunner({ repo: deps.repo, logger: deps.logger, ...deps.runner });
  fastify.addHook('onReady', async () => runner.start());
  fastify.addHook('onClose', async () => runner.stop());

  const kickOff = (level: ExportRequest['level']) => async (request: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => {
    const auth = request.auth;
    if (!auth) {
      throw new Error('$export reached without authentication');
    }
    if (!/respond-async/.test(String(request.headers.prefer ?? ''))) {
      throw new OperationOutcomeError(badRequest('$export is asynchronous: send the header "Prefer: respond-async"', 'Prefer'));
    }
    const accept = String(request.headers.accept ?? 'application/fhir+json');
    if (!/application\/(fhir\+)?json|\*\/\*/.test(accept)) {
      throw new OperationOutcomeError(badRequest('$export answers with application/fhir+json only', 'Accept'));
    }
    const req = parseExportRequest(level, requestParams(request), request.params.id);
    if (level === 'group') {
      // A Group the caller may not read is a 404 now rather than a failed job later.
      await deps.repoFor(request).readResource('Group', req.groupId as string);
    }
    const id = randomUUID();
    await runner.create(id, `${deps.config.baseUrl.replace(/\/$/, '')}${request.url}`, req, auth.policy, auth.membership.id);
    reply.header('Content-Location', `${deps.fhirBaseUrl}bulkdata/${id}`);
    return sendOutcome(reply, outcome('informational', `Export job ${id} accepted`, 'information'), 202);
  };

  /** The job, if it exists and belongs to the caller (someone else's job does not exist for them). */
  const ownJob = async (request: FastifyRequest<{ Params: { jobId: string } }>) => {
    const job = UUID_RE.test(request.params.jobId) ? await runner.get(request.params.jobId) : undefined;
    if (!job || job.membership_id !== request.auth?.membership.id) {
      throw new OperationOutcomeError(notFound);
    }
    return job;
  };

  fastify.get(STATUS_PATH, async (request: FastifyRequest<{ Params: { jobId: string } }>, reply) => {
    const job = await ownJob(request);
    if (job.status === 'accepted' || job.status === 'running') {
      reply.header('X-Progress', job.progress ?? 'queued');
      reply.header('Retry-After', '1');
      return sendOutcome(reply, outcome('informational', `In progress: ${job.progress ?? 'queued'}`, 'information'), 202);
    }
    if (job.status === 'failed') {
      return sendOutcome(reply, outcome('exception', `The export failed: ${job.failure}`), 500);
    }
    const files = await runner.files(job.id);
    const manifest = {
      transactionTime: job.transaction_time.toISOString(),
      request: job.request_url,
      requiresAccessToken: true,
      output: files.map((f) => ({
        type: f.resource_type,
        url: `${deps.fhirBaseUrl}bulkdata/${job.id}/${f.file_no}.ndjson`,
        count: f.count,
      })),
      error: job.errors.map((_e, i) => ({ type: 'OperationOutcome', url: `${deps.fhirBaseUrl}bulkdata/${job.id}/error-${i}.ndjson` })),
    };
    reply.header('Expires', new Date(Date.now() + 24 * 3600_000).toUTCString());
    return reply.code(200).type('application/json').send(JSON.stringify(manifest));
  });

  fastify.delete(STATUS_PATH, async (request: FastifyRequest<{ Params: { jobId: string } }>, reply) => {
    const job = await ownJob(request);
    await runner.delete(job.id);
    return sendOutcome(reply, outcome('informational', `Export job ${job.id} deleted`, 'information'), 202);
  });

  fastify.get(FILE_PATH, async (request: FastifyRequest<{ Params: { jobId: string; fileName: string } }>, reply) => {
    const job = await ownJob(request);
    const name = /^(error-)?(\d{1,6})\.ndjson$/.exec(request.params.fileName);
    let data: string | undefined;
    if (name?.[1]) {
      const error = job.errors[Number(name[2])];
      data = error ? `${JSON.stringify(error)}\n` : undefined;
    } else if (name) {
      data = await runner.fileData(job.id, Number(name[2]));
    }
    if (data === undefined) {
      return sendOutcome(reply, outcome('not-found', `No file ${request.params.fileName} in export ${job.id}`), 404);
    }
    return reply.code(200).type('application/fhir+ndjson').send(data);
  });

  fastify.get('/fhir/R4/$export', kickOff('system'));
  fastify.post('/fhir/R4/$export', kickOff('system'));
  fastify.get('/fhir/R4/Patient/$export', kickOff('patient'));
  fastify.post('/fhir/R4/Patient/$export', kickOff('patient'));
  fastify.get('/fhir/R4/Group/:id/$export', kickOff('group'));
  fastify.post('/fhir/R4/Group/:id/$export', kickOff('group'));
  return runner;
}
