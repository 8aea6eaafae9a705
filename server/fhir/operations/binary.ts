import { badRequest, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Binary, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isJsonContentType, parseJsonBody } from '../../http/json.ts';
import { FHIR_JSON } from '../../http/outcomes.ts';
import type { PostgresRepository } from '../repo.ts';
import type { RouteDeps } from './routes.ts';

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

function wantsFhirJson(accept: string | undefined): boolean {
  if (!accept) {
    return false;
  }
  // MedplumClient asks for "application/fhir+json, */*; q=0.1" when it reads a resource,
  // and "*/*" when it downloads the content.
  return /application\/(fhir\+)?json/i.test(accept.split(',')[0]);
}

/** "text/plain;charset=UTF-8" → "text/plain; charset=UTF-8": one canonical spelling, valid as a FHIR code. */
function normalizeContentType(header: string | undefined): string {
  const parts = (header ?? '')
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) {
    return DEFAULT_CONTENT_TYPE;
  }
  if (!/^[\w.+-]+\/[\w.+-]+$/.test(parts[0])) {
    throw new OperationOutcomeError(badRequest(`Invalid content type "${header}"`, 'Binary.contentType'));
  }
  return parts.join('; ');
}

function withUrl(binary: WithId<Binary>, fhirBaseUrl: string): WithId<Binary> & { url: string } {
  return { ...binary, url: `${fhirBaseUrl}Binary/${binary.id}` };
}

/**
 * FHIR R4 Binary: a body is stored as is, whatever its content type, "except for the special
 * case where the content is actually a Binary resource". Returns that resource, if it is one.
 */
function binaryResourceIn(request: FastifyRequest<{ Params: { id?: string } }>, body: Buffer, maxDepth: number): Binary | undefined {
  if (!isJsonContentType(request.headers['content-type'])) {
    return undefined;
  }
  let json: unknown;
  try {
    json = parseJsonBody(body.toString('utf8'), maxDepth);
  } catch {
    return undefined;
  }
  const resource = json as Resource | null;
  return resource && typeof resource === 'object' && resource.resourceType === 'Binary' ? resource : undefined;
}

async function storeRaw(
  repo: PostgresRepository,
  request: FastifyRequest<{ Params: { id?: string } }>,
  data: Buffer,
): Promise<WithId<Binary>> {
  const contentType = normalizeContentType(request.headers['content-type']);
  const id = request.params.id;
  const securityContext = request.headers['x-security-context'];
  const resource: Binary = {
    resourceType: 'Binary',
    ...(id ? { id } : {}),
    contentType,
    ...(typeof securityContext === 'string' && securityContext ? { securityContext: { reference: securityContext } } : {}),
  };
  // The resource and its bytes commit together or not at all.
  return repo.withTransaction(
    async (tx) => {
      // New bytes are a new version even when the resource itself (contentType) did not change.
      const binary = id ? await tx.updateResource(resource, { forceNewVersion: true }) : await tx.createResource(resource);
      await tx.query('INSERT INTO binary_content (version_id, id, content_type, data) VALUES ($1, $2, $3, $4)', [
        binary.meta?.versionId,
        binary.id,
        contentType,
        data,
      ]);
      return binary;
    },
    { resourceTypes: ['Binary'] },
  );
}

/**
 * Binary with raw bodies, as MedplumClient's createBinary/createAttachment and download use it:
 * any content type in, the same bytes out. A FHIR JSON Binary resource still goes through the
 * FHIR router. Registered in its own scope, because here every body is read as raw bytes.
 */
export function registerBinaryRoutes(fastify: FastifyInstance, deps: RouteDeps): void {
  const { fhirBaseUrl } = deps;

  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const write = async (request: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const resource = binaryResourceIn(request, body, deps.config.maxJsonDepth);
    if (resource) {
      await deps.handleFhir(request, reply, resource);
      return reply;
    }
    const binary = await storeRaw(deps.repoFor(request), request, body);
    const status = request.params.id ? 200 : 201;
    reply.code(status).header('ETag', `W/"${binary.meta?.versionId}"`);
    if (binary.meta?.lastUpdated) {
      reply.header('Last-Modified', new Date(binary.meta.lastUpdated).toUTCString());
    }
    if (status === 201) {
      reply.header('Location', `${fhirBaseUrl}Binary/${binary.id}/_history/${binary.meta?.versionId}`);
    }
    return reply.type(FHIR_JSON).send(JSON.stringify(withUrl(binary, fhirBaseUrl)));
  };

  fastify.post<{ Params: { id?: string } }>('/fhir/R4/Binary', write);
  fastify.put<{ Params: { id: string } }>('/fhir/R4/Binary/:id', write);

  fastify.get<{ Params: { id: string } }>('/fhir/R4/Binary/:id', async (request, reply) => {
    const repo = deps.repoFor(request);
    const binary = await repo.readResource<Binary>('Binary', request.params.id);
    reply.header('ETag', `W/"${binary.meta?.versionId}"`);
    if (binary.meta?.lastUpdated) {
      reply.header('Last-Modified', new Date(binary.meta.lastUpdated).toUTCString());
    }
    const { rows } = await repo.query<{ data: Buffer }>('SELECT data FROM binary_content WHERE version_id = $1', [binary.meta?.versionId]);
    const stored = rows[0]?.data;
    if (wantsFhirJson(request.headers.accept)) {
      const data = binary.data ?? stored?.toString('base64');
      return reply.type(FHIR_JSON).send(JSON.stringify({ ...withUrl(binary, fhirBaseUrl), ...(data ? { data } : {}) }));
    }
    const bytes = stored ?? Buffer.from(binary.data ?? '', 'base64');
    return reply
      .type(binary.contentType || DEFAULT_CONTENT_TYPE)
      .header('Content-Security-Policy', "default-src 'none'; sandbox")
      .header('X-Content-Type-Options', 'nosniff')
      .send(bytes);
  });
}
