import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import type pg from 'pg';
import type { BotExecutionRequest, BotExecutionResult, BotExecutor } from '../bots/runtime.ts';

export interface TracingOptions {
  serviceName?: string;
  /** Where spans go. Tests pass an InMemorySpanExporter; production an OTLPTraceExporter. */
  exporter: SpanExporter;
  /** Export each span when it ends (tests) instead of in batches. */
  simple?: boolean;
}

const getter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key] ?? carrier[key.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  },
};
const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/**
 * OpenTelemetry tracing of one server instance: its own provider, context manager and W3C
 * propagator, none of them registered globally, so two servers in one process (tests) keep their
 * traces apart and nothing else in the process is affected. Off unless configured (fromEnv).
 */
export class Tracing {
  readonly provider: TracerProvider;
  readonly tracer: Tracer;
  private readonly contexts = new AsyncLocalStorageContextManager();
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(options: TracingOptions) {
    const processor = options.simple
      ? new SimpleSpanProcessor({ exporter: options.exporter })
      : new BatchSpanProcessor({ exporter: options.exporter });
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'emergisphere' }),
      spanProcessors: [processor],
    });
    this.tracer = this.provider.getTracer('emergisphere-server');
    this.contexts.enable();
  }

  /** Tracing as the environment asks for it: OTEL_EXPORTER_OTLP_ENDPOINT set, else none. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
    const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
    if (!endpoint) return undefined;
    // The exporter reads OTEL_EXPORTER_OTLP_* itself (headers, timeout); a bare base endpoint gets /v1/traces.
    const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${endpoint.replace(/\/$/, '')}/v1/traces`;
    return new Tracing({ serviceName: env.OTEL_SERVICE_NAME || 'emergisphere', exporter: new OTLPTraceExporter({ url }) });
  }

  active(): Context {
    return this.contexts.active();
  }

  with<T>(ctx: Context, fn: () => T): T {
    return this.contexts.with(ctx, fn);
  }

  /** The context carried by W3C `traceparent`/`tracestate` headers (ROOT when there are none). */
  extract(headers: Record<string, string | string[] | undefined>): Context {
    return this.propagator.extract(ROOT_CONTEXT, headers, getter);
  }

  /** `traceparent` (and `tracestate`) for a context. */
  inject(ctx: Context = this.active()): Record<string, string> {
    const carrier: Record<string, string> = {};
    this.propagator.inject(ctx, carrier, setter);
    return carrier;
  }

  /** The active span's W3C traceparent, if a sampled span is active. */
  currentTraceparent(): string | undefined {
    const span = trace.getSpan(this.active());
    return span?.spanContext().traceFlags ? this.inject().traceparent : undefined;
  }

  currentTraceId(): string | undefined {
    return trace.getSpan(this.active())?.spanContext().traceId;
  }

  startSpan(name: string, kind: SpanKind, parent: Context, attributes: Record<string, string | number> = {}): Span {
    return this.tracer.startSpan(name, { kind, attributes }, parent);
  }

  async shutdown(): Promise<void> {
    this.contexts.disable();
    await this.provider.shutdown();
  }
}

/** The trace context a write recorded for a resource version (see migration 0008_trace_context). */
export async function traceparentOfVersion(pool: pg.Pool, versionId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ traceparent: string }>('SELECT traceparent FROM trace_context WHERE version_id = $1', [versionId]);
  return rows[0]?.traceparent;
}

/** Deletes trace contexts older than a day (their deliveries are long done or dead-lettered). */
export async function pruneTraceContexts(pool: pg.Pool): Promise<void> {
  await pool.query(`DELETE FROM trace_context WHERE created_at < now() - interval '1 day'`);
}

/**
 * Wraps the bot runtime for the subscription engine: a delivery continues the trace of the write
 * that caused it (its traceparent was stored with the resource version), runs the bot inside a
 * span of that trace, and hands the bot's MedplumClient the traceparent for its own FHIR calls.
 */
export function tracedBotExecutor(inner: BotExecutor, tracing: Tracing, pool: pg.Pool): BotExecutor {
  return {
    async execute(req: BotExecutionRequest): Promise<BotExecutionResult> {
      const versionId = (req.input as { meta?: { versionId?: string } } | undefined)?.meta?.versionId;
      const subscription = req.headers?.['X-Medplum-Subscription'];
      let parent = tracing.active();
      if (subscription && versionId && !trace.getSpan(parent)) {
        const traceparent = await traceparentOfVersion(pool, versionId).catch(() => undefined);
        if (traceparent) parent = tracing.extract({ traceparent });
      }
      const span = tracing.startSpan(`bot execute Bot/${req.botId}`, SpanKind.CONSUMER, parent, {
        'emergisphere.bot': `Bot/${req.botId}`,
        ...(subscription ? { 'emergisphere.subscription': `Subscription/${subscription}` } : {}),
      });
      const ctx = trace.setSpan(parent, span);
      try {
        const result = await tracing.with(ctx, () =>
          inner.execute({
            ...req,
            headers: { ...req.headers, ...tracing.inject(ctx) },
            traceId: req.traceId ?? span.spanContext().traceId,
          }),
        );
        span.setAttribute('emergisphere.bot.status', result.status);
        if (!result.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: 'bot failed' });
        return result;
      } finally {
        span.end();
      }
    },
  };
}
