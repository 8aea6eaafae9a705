import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../../config.ts';
import type { PostgresRepository, RepositoryOptions } from '../repo.ts';

/** What the hand-written FHIR routes (those FhirRouter does not cover) need. */
export interface RouteDeps {
  fhirBaseUrl: string;
  config: ServerConfig;
  /** A repository acting for the caller of `request` (its AccessPolicy applies). */
  repoFor(request: FastifyRequest, options?: RepositoryOptions): PostgresRepository;
  /**
   * The generic FHIR handler (FhirRouter), for requests a specific route hands back; `body`
   * overrides the parsed body. It sends the reply; an async route that calls it returns `reply`.
   */
  handleFhir(request: FastifyRequest, reply: FastifyReply, body?: unknown): Promise<void>;
}
