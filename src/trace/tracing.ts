// The spans of a round (docs/tracing.md). Every round gets real trace and span ids whether or not
// anything is exported: the pages show the trace id, and every request we make carries its span as
// a W3C traceparent header, so the platform's own traces of our calls can be found. When the config
// names an endpoint, spans are made with the OpenTelemetry SDK and go over OTLP/HTTP (JSON);
// otherwise a span is only its ids.
//
// No global state: no registered provider, no context manager. A span's parent is passed by hand
// (TraceSpan.child), which is all a round needs, and keeps two inspectors (a reload) apart.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { TracingConfig } from '../config/tracing.js';
import type { Redactor } from '../redact.js';

export type AttributeValue = string | number | boolean | null | undefined;
/** Span attributes; null and undefined values are left out. Strings are redacted. */
export type SpanAttributes = Record<string, AttributeValue>;

/** One span, as the engine uses it. */
export interface TraceSpan {
  /** 32 hex digits, shared by every span of the round. */
  readonly traceId: string;
  readonly spanId: string;
  /** This span as a W3C `traceparent` value: what a request made inside it carries. */
  readonly traceparent: string;
  /** A span inside this one. `client`: it stands for a request we send. */
  child(name: string, attributes?: SpanAttributes, kind?: 'internal' | 'client'): TraceSpan;
  set(attributes: SpanAttributes): void;
  /** Marks the span failed (status error) with a reason (redacted). */
  fail(reason: string): void;
  end(): void;
}

/** What the engine is given (like the logger): rounds start here. */
export interface Tracing {
  /** Whether spans leave the process (an endpoint is configured and not shut down). */
  readonly exporting: boolean;
  /** The root span of a round: a new trace. */
  round(attributes?: SpanAttributes): TraceSpan;
  /** Send the spans ended so far (at the end of a round); never throws. */
  flush(): Promise<void>;
  /** Flush and stop exporting (stop, reload); bounded by the export timeout; never throws. */
  shutdown(): Promise<void>;
}

/** The value of a W3C traceparent header for a span context. */
export function traceparentOf(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

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

type OtlpOptions = { url: string; headers: Record<string, string>; timeoutMillis: number };

/** The OTLP/HTTP exporter, loaded at the first export: a config that exports nothing never pays for its import. */
class LazyOtlpExporter implements SpanExporter {
  private inner: Promise<SpanExporter> | null = null;

  constructor(private readonly options: OtlpOptions) {}

  private load(): Promise<SpanExporter> {
    this.inner ??= import('@opentelemetry/exporter-trace-otlp-http').then((m) => new m.OTLPTraceExporter(this.options));
    return this.inner;
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    // 1 is ExportResultCode.FAILED.
    this.load().then(
      (e) => e.export(spans, done),
      (err: Error) => done({ code: 1, error: err }),
    );
  }

  async shutdown(): Promise<void> {
    if (this.inner) await (await this.inner).shutdown();
  }

  async forceFlush(): Promise<void> {
    if (this.inner) await (await this.inner).forceFlush?.();
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

export interface TracingDeps {
  redactor: Redactor;
  logger: Logger;
  /** A span exporter of the caller's own instead of OTLP/HTTP (tests). */
  exporter?: SpanExporter;
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

/** `bytes` random bytes as hex, never all zeros (an invalid W3C id). */
function randomId(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString('hex');
    if (/[^0]/.test(id)) return id;
  }
}

/**
 * A span that is only its ids: what a round needs when nothing is exported (the trace id on the
 * pages and in the history, the traceparent on every request). The SDK's recording spans keep
 * attributes, times and links that nothing would read; at 5,000 services they were ~6 % of a
 * round's allocations (BENCHMARKS.md, "The heap's growth").
 */
class IdSpan implements TraceSpan {
  readonly spanId = randomId(8);

  constructor(readonly traceId: string) {}

  get traceparent(): string {
    // Sampled (01), as the SDK's always-on spans are: the platform may trace our calls.
    return traceparentOf(this.traceId, this.spanId, 1);
  }

  child(): TraceSpan {
    return new IdSpan(this.traceId);
  }

  set(): void {}

  fail(): void {}

  end(): void {}
}

class IdTracing implements Tracing {
  readonly exporting = false;

  round(): TraceSpan {
    return new IdSpan(randomId(16));
  }

  async flush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

/** Spans for every round; made with the SDK and exported when `cfg.otlp_endpoint` (or
 *  `deps.exporter`) is given, ids only otherwise. */
export function createTracing(cfg: TracingConfig, deps: TracingDeps): Tracing {
  // The collector's headers are credentials, whether or not they came from ${VAR} (and with no endpoint).
  for (const v of Object.values(cfg.headers)) deps.redactor.add(v);
  const exporter = deps.exporter ?? (cfg.otlp_endpoint ? new LazyOtlpExporter({ url: tracesUrl(cfg.otlp_endpoint), headers: { ...cfg.headers }, timeoutMillis: cfg.export_timeout }) : null);
  return exporter ? new SdkTracing(cfg, exporter, deps) : new IdTracing();
}
