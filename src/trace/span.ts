// What the engine knows of tracing (src/trace/tracing.ts makes it): a round's spans, their ids and
// their traceparent. Apart from the SDK's code so that only a config that exports spans loads it.
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
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

export interface TracingDeps {
  redactor: Redactor;
  logger: Logger;
  /** A span exporter of the caller's own instead of OTLP/HTTP (tests). */
  exporter?: SpanExporter;
}

