import Fastify, { type FastifyReply } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { ownReply } from './own-reply.ts';

const servers: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/**
 * A server whose onSend hook finishes a turn later, as the audit hook waits for its journal write;
 * it counts the hook's runs and the calls of each reply's `then` (awaited).
 */
function serverWithSlowOnSend() {
  const server = Fastify({ loggerInstance: pino({ level: 'silent' }) });
  servers.push(server);
  const counts = { onSend: 0, awaited: 0 };
  server.addHook('onRequest', (_request, reply, done) => {
    vi.spyOn(reply as FastifyReply & PromiseLike<void>, 'then').mockImplementationOnce(function (this: FastifyReply, ...args) {
      counts.awaited++;
      return Object.getPrototypeOf(this).then.apply(this, args);
    });
    done();
  });
  server.addHook('onSend', (_request, _reply, payload, done) => {
    counts.onSend++;
    setImmediate(() => done(null, payload));
  });
  return { server, counts };
}

describe('ownReply', () => {
  test('the reply the handler sends is the answer: its onSend hooks run once, and fastify does not wait on the reply', async () => {
    const { server, counts } = serverWithSlowOnSend();
    server.get(
      '/own',
      ownReply(async (_request, reply) => {
        await new Promise((r) => setImmediate(r));
        reply.code(201).type('text/plain').send('sent by the handler');
      }),
    );
    // The usual async handler that returns its reply: fastify watches the response for its end.
    server.get('/returned', async (_request, reply) => reply.code(201).type('text/plain').send('returned'));

    const own = await server.inject({ method: 'GET', url: '/own' });
    expect([own.statusCode, own.body]).toEqual([201, 'sent by the handler']);
    expect(counts).toEqual({ onSend: 1, awaited: 0 });
    const returned = await server.inject({ method: 'GET', url: '/returned' });
    expect([returned.statusCode, returned.body]).toEqual([201, 'returned']);
    expect(counts).toEqual({ onSend: 2, awaited: 1 });
  });

  test('a handler that fails before sending gets the error handler answer; a thrown non-error too', async () => {
    const { server } = serverWithSlowOnSend();
    server.setErrorHandler((err: Error, _request, reply) => {
      reply.code(418).send({ message: err.message });
    });
    server.get(
      '/fails',
      ownReply(async () => {
        throw new Error('no such thing');
      }),
    );
    server.get(
      '/throws-string',
      ownReply(async () => {
        throw 'a string';
      }),
    );
    const fails = await server.inject({ method: 'GET', url: '/fails' });
    expect([fails.statusCode, fails.json()]).toEqual([418, { message: 'no such thing' }]);
    const string = await server.inject({ method: 'GET', url: '/throws-string' });
    expect([string.statusCode, string.json()]).toEqual([418, { message: 'a string' }]);
  });

  test('a failure after the reply went out is logged, and the answer stands', async () => {
    const logged: { err?: { message: string } }[] = [];
    const server = Fastify({ loggerInstance: pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) }) });
    servers.push(server);
    server.get(
      '/late',
      ownReply(async (_request, reply) => {
        await reply.type('text/plain').send('done');
        throw new Error('after the answer');
      }),
    );
    const late = await server.inject({ method: 'GET', url: '/late' });
    expect([late.statusCode, late.body]).toEqual([200, 'done']);
    await expect.poll(() => logged.length).toBe(1);
    expect(logged[0].err?.message).toBe('after the answer');
  });
});
