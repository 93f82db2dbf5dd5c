// The spans of a round (docs/tracing.md). Every round gets real trace and span ids whether or not
// anything is exported: the pages show the trace id, and every request we make carries its span as
// a W3C traceparent header, so the platform's own traces of our calls can be found. When the config
// names an endpoint, spans are made with the OpenTelemetry SDK and go over OTLP/HTTP (JSON:
// src/trace/sdk.ts, imported only then: ~3 MB of heap in the round thread otherwise); without one a
// span is only its ids.
import { randomBytes } from 'node:crypto';
import type { TracingConfig } from '../config/tracing.js';
import { traceparentOf, type TraceSpan, type Tracing, type TracingDeps } from './span.js';

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
export async function createTracing(cfg: TracingConfig, deps: TracingDeps): Promise<Tracing> {
  // The collector's headers are credentials, whether or not they came from ${VAR} (and with no
  // endpoint); added before anything is awaited, so before the caller can log or run anything.
  for (const v of Object.values(cfg.headers)) deps.redactor.add(v);
  if (!deps.exporter && !cfg.otlp_endpoint) return new IdTracing();
  return (await import('./sdk.js')).sdkTracing(cfg, deps);
}
