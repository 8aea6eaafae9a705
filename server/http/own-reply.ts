import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';

/**
 * A route handler that sends its own reply, registered so that fastify is not handed its promise.
 *
 * An async handler that returns `reply` hands fastify a thenable: when the reply has not finished
 * by the time that promise settles — and it has not whenever an onSend hook is still waiting, as
 * the audit hook waits for its turn's journal write — fastify watches the response with
 * stream.finished, which costs listeners and an AsyncResource per request (measured: most of the
 * extra allocation of an audited read). Here the handler's promise is only watched for errors,
 * which go to the error handler as fastify would send them.
 */
export function ownReply(handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): RouteHandlerMethod {
  return (request, reply) => {
    handler(request, reply).catch((err: unknown) => {
      if (reply.sent) {
        request.log.error({ err }, 'handler failed after its reply was sent');
        return;
      }
      reply.send(err instanceof Error ? err : new Error(String(err)));
    });
  };
}
