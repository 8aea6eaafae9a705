import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import { type OutboundQueue, OutboundRequestError, type OutboundSubmission } from '../outbound/queue.ts';
import { getMessage, getRaw, LogQueryError, searchMessages } from '../store/message-log.ts';
import type { MessageStore } from '../store/message-store.ts';
import type { OutboundStore } from '../store/outbound-store.ts';
import { type ApiAuth, AuthError } from './auth.ts';

export interface ApiDeps {
  auth: ApiAuth;
  store: MessageStore;
  outboundStore: OutboundStore;
  outbound: OutboundQueue;
  metrics: Metrics;
  /** Extra figures for /hl7/metrics (channel connections, …). */
  stats: () => Record<string, unknown>;
  /** Wakes the conversion workers after a replay. */
  onReplay: () => void;
  logger: Logger;
}

function outcome(reply: FastifyReply, status: number, code: string, text: string): FastifyReply {
  return reply
    .code(status)
    .type('application/fhir+json')
    .send({ resourceType: 'OperationOutcome', issue: [{ severity: status >= 500 ? 'fatal' : 'error', code, details: { text } }] });
}

function intParam(value: unknown, fallback: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : fallback;
}

function list(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/**
 * The bridge's HTTP API (JSON; errors as OperationOutcomes), every route but /hl7/health behind a
 * bearer token verified against the server:
 *   GET  /hl7/messages?type=&patient=&date=&status=&channel=&control=&ack=&_count=&_offset=   message log
 *   GET  /hl7/messages/{id}            one message with its text, ACK and error detail
 *   GET  /hl7/messages/{id}/raw        the bytes as received
 *   GET  /hl7/errors                   the error queue (failed conversions)
 *   POST /hl7/messages/{id}/$replay    convert again
 *   POST /hl7/outbound                 queue a message for the legacy destinations (the hl7-outbound bot)
 *   GET  /hl7/outbound?status=&destination=   outbound queue and dead letters
 *   POST /hl7/outbound/{id}/$replay    send a dead letter again
 *   GET  /hl7/metrics                  counters, latencies, queue depths
 */
export async function startApi(deps: ApiDeps, port: number, host: string): Promise<{ fastify: FastifyInstance; url: string }> {
  const fastify = Fastify({
    loggerInstance: deps.logger.child({ component: 'hl7-api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024 * 1024,
  });
  const { auth, store, outboundStore, outbound, metrics } = deps;

  const guard = async (request: FastifyRequest) => auth.verify(request.headers.authorization);
  fastify.setErrorHandler((err, _request, reply) => {
    if (err instanceof AuthError) return outcome(reply, err.status, err.status === 401 ? 'login' : 'forbidden', err.message);
    if (err instanceof LogQueryError || err instanceof OutboundRequestError) return outcome(reply, 400, 'invalid', err.message);
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return outcome(reply, status, 'invalid', (err as Error).message);
    deps.logger.error({ err }, 'HL7 API request failed');
    return outcome(reply, 500, 'exception', 'Internal error');
  });
  fastify.setNotFoundHandler((_request, reply) => outcome(reply, 404, 'not-found', 'Not found'));

  fastify.get('/hl7/health', async () => ({ ok: true }));

  const search = async (request: FastifyRequest, status?: string) => {
    const q = request.query as Record<string, unknown>;
    const count = intParam(q._count, 50, 1000);
    const offset = intParam(q._offset, 0, 1_000_000);
    const result = await searchMessages(store.pool, {
      type: q.type as string | undefined,
      patient: q.patient as string | undefined,
      date: list(q.date),
      status: status ?? (q.status as string | undefined),
      channel: q.channel as string | undefined,
      control: q.control as string | undefined,
      ack: q.ack as string | undefined,
      count,
      offset,
    });
    return { count: result.entries.length, offset, hasMore: result.hasMore, entries: result.entries };
  };

  fastify.get('/hl7/messages', async (request) => {
    await guard(request);
    return search(request);
  });
  fastify.get('/hl7/errors', async (request) => {
    await guard(request);
    return search(request, 'error');
  });
  fastify.get<{ Params: { id: string } }>('/hl7/messages/:id', async (request, reply) => {
    await guard(request);
    const message = await getMessage(store.pool, request.params.id);
    return message ?? outcome(reply, 404, 'not-found', `No message ${request.params.id}`);
  });
  fastify.get<{ Params: { id: string } }>('/hl7/messages/:id/raw', async (request, reply) => {
    await guard(request);
    const raw = await getRaw(store.pool, request.params.id);
    return raw ? reply.type('application/octet-stream').send(raw) : outcome(reply, 404, 'not-found', `No message ${request.params.id}`);
  });
  fastify.post<{ Params: { id: string } }>('/hl7/messages/:id/$replay', async (request, reply) => {
    const caller = await guard(request);
    if (!/^\d+$/.test(request.params.id) || !(await store.replay(request.params.id))) {
      return outcome(reply, 404, 'not-found', `No replayable message ${request.params.id} (pending messages are converted already)`);
    }
    deps.logger.info({ message: request.params.id, by: caller.profile }, 'HL7 message replayed');
    deps.onReplay();
    return { id: request.params.id, status: 'pending' };
  });

  fastify.post('/hl7/outbound', async (request, reply) => {
    await guard(request);
    const body = request.body as OutboundSubmission;
    if (!body || typeof body !== 'object')
      return outcome(reply, 400, 'invalid', 'A JSON body { message, dedupeKey, lane?, destinations? } is required');
    const result = await outbound.submit(body);
    return reply.code(result.queued.length ? 202 : 200).send(result);
  });
  fastify.get('/hl7/outbound', async (request) => {
    await guard(request);
    const q = request.query as Record<string, unknown>;
    const entries = await outboundStore.list({
      status: q.status as string | undefined,
      destination: q.destination as string | undefined,
      limit: intParam(q._count, 50, 1000),
      offset: intParam(q._offset, 0, 1_000_000),
    });
    return { count: entries.length, entries };
  });
  fastify.post<{ Params: { id: string } }>('/hl7/outbound/:id/$replay', async (request, reply) => {
    const caller = await guard(request);
    const row = await outboundStore.get(request.params.id);
    if (!row || !(await outboundStore.replay(row.id)))
      return outcome(reply, 404, 'not-found', `No dead or sent outbound message ${request.params.id}`);
    deps.logger.info({ outbound: row.id, by: caller.profile }, 'outbound HL7 message replayed');
    outbound.wake(row.destination);
    return { id: row.id, status: 'pending' };
  });

  fastify.get('/hl7/metrics', async (request) => {
    await guard(request);
    const [inbound, outboundDepth] = await Promise.all([store.queueDepth(), outboundStore.depth()]);
    return metrics.snapshot({ queues: { inbound, outbound: outboundDepth }, ...deps.stats() });
  });

  await fastify.listen({ port, host });
  const addr = fastify.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return { fastify, url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${actual}/` };
}
