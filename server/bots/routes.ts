import { allOk, badRequest, ContentType, forbidden, OperationOutcomeError, type WithId } from '@medplum/core';
import type { AccessPolicy, Attachment, Binary, Bot, OperationOutcome, Reference } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PostgresRepository, RepositoryOptions } from '../fhir/repo.ts';
import { FHIR_JSON, sendOutcome } from '../http/outcomes.ts';
import { createBot } from './membership.ts';
import { type BotExecutionResult, type BotRuntime, baseContentType } from './runtime.ts';

/** What Medplum stores deployed bot code as. */
const JAVASCRIPT = 'application/javascript';

export interface BotRouteDeps {
  bots: BotRuntime;
  repoFor(request: FastifyRequest, options?: RepositoryOptions): PostgresRepository;
}

function auth(request: FastifyRequest): NonNullable<FastifyRequest['auth']> {
  if (!request.auth) {
    throw new Error('bot route reached without authentication');
  }
  return request.auth;
}

/** A deployed bundle is stored as its own Binary, so every deploy is a new, immutable code version. */
async function deploy(repo: PostgresRepository, bot: WithId<Bot>, code: string, filename: string): Promise<WithId<Bot>> {
  return repo.withTransaction(
    async (tx) => {
      const binary = await tx.createResource<Binary>({ resourceType: 'Binary', contentType: JAVASCRIPT });
      await tx.query('INSERT INTO binary_content (version_id, id, content_type, data) VALUES ($1, $2, $3, $4)', [
        binary.meta?.versionId,
        binary.id,
        JAVASCRIPT,
        Buffer.from(code, 'utf8'),
      ]);
      return tx.updateResource<Bot>({
        ...bot,
        executableCode: { contentType: JAVASCRIPT, url: `Binary/${binary.id}`, title: filename },
      });
    },
    { resourceTypes: ['Binary', 'Bot'] },
  );
}

function executeInput(request: FastifyRequest): { input: unknown; contentType: string } {
  if (request.method === 'GET') {
    return { input: request.query ?? {}, contentType: ContentType.JSON };
  }
  const contentType = baseContentType(request.headers['content-type']) || ContentType.JSON;
  const body = request.body;
  // JSON bodies arrive parsed; text, HL7 and anything else as raw bytes: keep them as text.
  return { input: Buffer.isBuffer(body) ? body.toString('utf8') : body, contentType };
}

function sendResult(reply: FastifyReply, result: BotExecutionResult): FastifyReply {
  const contentType = result.contentType ?? ContentType.FHIR_JSON;
  let body = result.returnValue;
  if (body === undefined) {
    if (result.ok) {
      body = allOk;
    } else {
      const oo: OperationOutcome = badRequest(result.error ?? 'Bot execution failed');
      if (result.log && oo.issue?.[0]) {
        oo.issue[0] = { ...oo.issue[0], diagnostics: result.log };
      }
      return sendOutcome(reply, oo, result.status);
    }
  }
  reply.code(result.status);
  if (typeof body === 'string') {
    // Medplum sends a string as is. Under a JSON type that is only right when the string is
    // JSON already (a bot that returned JSON.stringify(...)); any other text becomes a JSON string.
    const isJsonType = contentType === ContentType.JSON || contentType === ContentType.FHIR_JSON;
    return reply.type(contentType).send(isJsonType && !isJsonText(body) ? JSON.stringify(body) : body);
  }
  if (typeof body === 'number' || typeof body === 'boolean' || body === null) {
    return reply.type(contentType).send(JSON.stringify(body));
  }
  if (body instanceof Uint8Array) {
    return reply.type(contentType).send(Buffer.from(body));
  }
  const json = contentType === ContentType.JSON || contentType === ContentType.FHIR_JSON ? contentType : FHIR_JSON;
  return reply.type(json).send(JSON.stringify(body));
}

/**
 * Bot operations: `$deploy`, `$execute` (by id or identifier) and Medplum's admin endpoint that
 * creates a Bot with its membership. The caller's AccessPolicy applies to reading and
 * updating the Bot; the code then runs with the bot's own membership.
 */
export function registerBotRoutes(fastify: FastifyInstance, deps: BotRouteDeps): void {
  const { bots, repoFor } = deps;

  fastify.post<{ Params: { id: string }; Body: { code?: unknown; filename?: unknown } }>(
    '/fhir/R4/Bot/:id/$deploy',
    async (request, reply) => {
      const repo = repoFor(request);
      const bot = await repo.readResource<Bot>('Bot', request.params.id);
      const body = (request.body ?? {}) as { code?: unknown; filename?: unknown };
      if (Buffer.isBuffer(body) || typeof body !== 'object') {
        throw new OperationOutcomeError(badRequest('$deploy expects a JSON body { code, filename }'));
      }
      const code = typeof body.code === 'string' ? body.code : undefined;
      if (!code) {
        throw new OperationOutcomeError(badRequest('Bot code is required (body.code)', 'code'));
      }
      const filename = typeof body.filename === 'string' && body.filename ? body.filename : 'index.js';
      await deploy(repo, bot, code, filename);
      bots.invalidate(bot.id);
      return sendOutcome(reply, allOk, 200);
    },
  );

  const execute = async (
    request: FastifyRequest<{ Params: { id?: string }; Querystring: Record<string, unknown> }>,
    reply: FastifyReply,
  ) => {
    const ctx = auth(request);
    const repo = repoFor(request);
    let bot: WithId<Bot> | undefined;
    const query = { ...(request.query ?? {}) };
    if (request.params.id) {
      bot = await repo.readResource<Bot>('Bot', request.params.id);
    } else if (typeof query.identifier === 'string' && query.identifier) {
      bot = await repo.searchOne<Bot>({
        resourceType: 'Bot',
        filters: [{ code: 'identifier', operator: 'eq', value: query.identifier }],
      });
      if (!bot) {
        return sendOutcome(reply, badRequest(`No bot with identifier ${query.identifier}`), 404);
      }
      delete query.identifier;
    } else {
      return sendOutcome(reply, badRequest('Must specify bot ID or identifier.'), 400);
    }
    const { input, contentType } = executeInput(request);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) {
      if (typeof v === 'string' && k !== 'authorization' && k !== 'cookie') headers[k] = v;
    }
    const traceId = typeof request.headers['x-trace-id'] === 'string' ? request.headers['x-trace-id'] : undefined;
    const result = await bots.executeBot(
      bot,
      { input: request.method === 'GET' ? query : input, contentType, headers, traceId, requester: ctx.profile },
      ctx.project.id,
    );
    return sendResult(reply, result);
  };
  for (const url of ['/fhir/R4/Bot/:id/$execute', '/fhir/R4/Bot/$execute']) {
    fastify.get(url, execute);
    fastify.post(url, execute);
  }

  // Medplum's admin API (used by the official CLI's `bot create`).
  fastify.post<{
    Params: { projectId: string };
    Body: {
      name?: unknown;
      description?: unknown;
      sourceCode?: Attachment;
      accessPolicy?: Reference<AccessPolicy>;
      identifier?: Bot['identifier'];
    };
  }>('/admin/projects/:projectId/bot', async (request, reply) => {
    const ctx = auth(request);
    if (!ctx.membership.admin || ctx.project.id !== request.params.projectId) {
      throw new OperationOutcomeError(forbidden);
    }
    const body = request.body ?? {};
    if (typeof body !== 'object' || Buffer.isBuffer(body) || typeof body.name !== 'string' || !body.name.trim()) {
      throw new OperationOutcomeError(badRequest('Bot name is required', 'name'));
    }
    const bot = await createBot(repoFor(request), ctx.project, {
      name: body.name.trim(),
      description: typeof body.description === 'string' ? body.description : undefined,
      sourceCode: body.sourceCode,
      accessPolicy: body.accessPolicy,
      identifier: body.identifier,
    });
    return reply.code(201).type(FHIR_JSON).send(JSON.stringify(bot));
  });
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
