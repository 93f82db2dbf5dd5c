// Spans made with the OpenTelemetry SDK and sent over OTLP/HTTP (JSON): what a config with an
// endpoint gets (src/trace/tracing.ts imports this module only then).
//
// No global state: no registered provider, no context manager. A span's parent is passed by hand
// (TraceSpan.child), which is all a round needs, and keeps two inspectors (a reload) apart.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Logger } from 'pino';
import type { TracingConfig } from '../config/tracing.js';
import { traceparentOf, type SpanAttributes, type TraceSpan, type Tracing, type TracingDeps } from './span.js';

/** The OTLP/HTTP traces URL: an endpoint without a path gets the standard /v1/traces. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/v1/traces';
  return u.toString();
}

/** Longest attribute value kept (after redaction: a secret is replaced before anything is cut). */
const MAX_ATTRIBUTE = 2000;

class SdkSpan implements TraceSpan {
  constructor(
    private readonly span: Span,
    private readonly owner: SdkTracing,
  ) {}

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  get spanId(): string {
    return this.span.spanContext().spanId;
  }

  get traceparent(): string {
    const c = this.span.spanContext();
    return traceparentOf(c.traceId, c.spanId, c.traceFlags);
  }

  child(name: string, attributes?: SpanAttributes, kind: 'internal' | 'client' = 'internal'): TraceSpan {
    return this.owner.start(name, attributes, kind, this.span);
  }

  set(attributes: SpanAttributes): void {
    this.span.setAttributes(this.owner.clean(attributes));
  }

  fail(reason: string): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: this.owner.redact(reason) });
  }

  end(): void {
    this.span.end();
  }
}

/** The exporter, with its failures logged (redacted: an error may quote the endpoint or a header). */
class LoggedExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: Logger,
    private readonly redact: (text: string) => string,
  ) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      // 0 is ExportResultCode.SUCCESS (@opentelemetry/core, not a dependency of ours).
      if (result.code !== 0) this.logger.warn({ spans: spans.length, err: this.redact(String(result.error?.message ?? result.error ?? 'unknown error')) }, 'trace export failed');
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

class SdkTracing implements Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly timeoutMs: number;
  private stopped = false;

  /** `exporter`: the caller's own or OTLP/HTTP to the config's endpoint. */
  constructor(cfg: TracingConfig, exporter: SpanExporter, private readonly deps: TracingDeps) {
    this.timeoutMs = cfg.export_timeout;
    this.provider = new BasicTracerProvider({
      // Every span of every round is exported.
      sampler: new AlwaysOnSampler(),
      resource: resourceFromAttributes({ ...cfg.resource_attributes, 'service.name': cfg.service_name }),
      spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE },
      spanProcessors: [new BatchSpanProcessor(new LoggedExporter(exporter, deps.logger, (t) => this.redact(t)), { exportTimeoutMillis: cfg.export_timeout, maxQueueSize: 65_536, maxExportBatchSize: 1024 })],
    });
    this.tracer = this.provider.getTracer('patrol_exporter');
  }

  get exporting(): boolean {
    return !this.stopped;
  }

  redact(text: string): string {
    return this.deps.redactor.redact(text);
  }

  clean(attributes: SpanAttributes | undefined): Record<string, string | number | boolean> {
    const out: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(attributes ?? {})) {
      if (v === null || v === undefined) continue;
      out[k] = typeof v === 'string' ? this.redact(v) : v;
    }
    return out;
  }

  start(name: string, attributes: SpanAttributes | undefined, kind: 'internal' | 'client', parent: Span | null): TraceSpan {
    const span = this.tracer.startSpan(
      name,
      { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes: this.clean(attributes), root: parent === null },
      parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT,
    );
    return new SdkSpan(span, this);
  }

  round(attributes?: SpanAttributes): TraceSpan {
    return this.start('patrol.round', attributes, 'internal', null);
  }

  async flush(): Promise<void> {
    if (!this.exporting) return;
    await this.bounded(this.provider.forceFlush(), 'trace flush');
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.bounded(this.provider.shutdown(), 'trace shutdown');
  }

  /** A collector that does not answer must not hold up a round's end, a reload or a stop. */
  private async bounded(work: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.timeoutMs);
    });
    try {
      if ((await Promise.race([work, late])) === 'late') this.deps.logger.warn(`${what}: the collector did not answer in time`);
    } catch (err) {
      // The failed export has been logged already (LoggedExporter); the SDK may reject with something that is not an Error.
      this.deps.logger.debug({ err: this.redact(err instanceof Error ? err.message : String(err)) }, `${what} failed`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Spans made with the SDK, sent to `deps.exporter` or else over OTLP/HTTP to the config's endpoint
 *  (createTracing comes here only with one of the two; the OTLP exporter is imported only then). */
export async function sdkTracing(cfg: TracingConfig, deps: TracingDeps): Promise<Tracing> {
  const exporter =
    deps.exporter ??
    new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: tracesUrl(cfg.otlp_endpoint!), headers: { ...cfg.headers }, timeoutMillis: cfg.export_timeout });
  return new SdkTracing(cfg, exporter, deps);
}
