// global.tracing: where the spans of each round go (docs/tracing.md). Trace ids are made for every
// round whatever this says (pages and calls carry them); this section only decides whether the
// spans are also exported, over OTLP/HTTP (JSON), and how.
import { z } from 'zod';
import { MAX_TIMER_MS, parseDuration } from '../util/duration.js';

function doc(description: string, ...examples: unknown[]): { description: string; examples?: unknown[] } {
  return examples.length > 0 ? { description, examples } : { description };
}

/** An OTLP/HTTP URL: http or https. A URL without a path gets the standard /v1/traces. */
const endpoint = z
  .string()
  .min(1)
  .superRefine((url, ctx) => {
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `the OTLP/HTTP endpoint must be http or https, not ${u.protocol}` });
    } catch {
      ctx.addIssue({ code: 'custom', message: `invalid URL "${url}"` });
    }
  });

/** Milliseconds, from "5s" or a number of seconds; short, so a stop never waits long for a collector. */
const exportTimeout = z
  .union([z.string().meta({ pattern: '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h|d))+\\s*$' }), z.number().min(0)])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (typeof ms === 'string') {
      ctx.addIssue({ code: 'custom', message: ms });
      return z.NEVER;
    }
    if (ms < 100 || ms > Math.min(60_000, MAX_TIMER_MS)) {
      ctx.addIssue({ code: 'custom', message: 'must be between 100ms and 60s' });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ 'x-duration': { min: '100ms', max: '60s' } });

export const tracingSchema = z
  .strictObject({
    otlp_endpoint: endpoint
      .optional()
      .meta(doc('Export the spans of every round to this OTLP/HTTP collector (JSON). A URL without a path gets /v1/traces. Absent: nothing is exported (trace ids are still made and shown).', 'http://otel-collector:4318')),
    headers: z
      .record(z.string().min(1), z.string())
      .prefault({})
      .meta(doc('HTTP headers sent with every export (a collector token: put it here as ${ENV_VAR}; it is redacted like every secret).', { authorization: 'Bearer ${OTLP_TOKEN}' })),
    service_name: z.string().min(1).default('patrol_exporter').meta(doc('The service.name resource attribute of the spans.', 'patrol-prod')),
    resource_attributes: z
      .record(z.string().min(1), z.string())
      .prefault({})
      .meta(doc('More resource attributes of the spans (deployment.environment, a shard, ...).', { 'deployment.environment': 'prod' })),
    export_timeout: exportTimeout.prefault('3s').meta(doc('How long one export may take, and how long a stop or reload waits for the last spans (`serve` stops its round thread after 5 s whatever happens).', '10s')),
  })
  .meta({ id: 'Tracing', ...doc('OpenTelemetry spans of every round (docs/tracing.md): one per round, service, counter read, call, auth check and settle wait. Every request carries its span as a W3C traceparent header.') });
export type TracingConfig = z.infer<typeof tracingSchema>;
