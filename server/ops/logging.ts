import pino, { type DestinationStream, type Logger } from 'pino';
import type { Tracing } from './tracing.ts';

/**
 * Paths pino censors wherever they appear in a log record. Our own log calls never pass resources
 * or request bodies; these cover what libraries attach: credentials in headers, and PostgreSQL
 * errors, whose `detail`/`where`/`parameters` echo the values of the failed row (names, phone
 * numbers). The error's message and code stay, which is what an operator needs.
 */
export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  '*.client_secret',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'err.detail',
  'err.where',
  'err.parameters',
  'err.cause.detail',
  '*.err.detail',
  // Free text that can quote clinical data: bot error messages and failed deliveries (the
  // AuditEvent and the dead-letter API keep them, behind access control), outcome diagnostics.
  'error',
  'outcome.issue[*].diagnostics',
  'outcome.issue[*].details.text',
  'body',
  '*.body',
];

export interface LoggerOptions {
  level: string;
  tracing?: Tracing;
  /** Where lines go (stdout by default; tests capture them). */
  destination?: DestinationStream;
}

/**
 * The server's structured JSON logger: every line carries the service name, and the trace id of the
 * active trace when tracing is on (request ids come from each request's child logger).
 */
export function createLogger(options: LoggerOptions): Logger {
  const tracing = options.tracing;
  return pino(
    {
      level: options.level,
      base: { service: 'emergisphere' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      ...(tracing
        ? {
            mixin() {
              const traceId = tracing.currentTraceId();
              return traceId ? { traceId } : {};
            },
          }
        : {}),
    },
    options.destination,
  );
}
