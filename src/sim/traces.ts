// The W3C trace context the simulated platform received: a real platform would start its own spans
// as children of it (docs/tracing.md); the simulator keeps the last few so a test or a person can
// match them to the exporter's spans (`GET /_sim/traces`).
import type { IncomingMessage } from 'node:http';

export interface ReceivedTrace {
  /** Unix ms. */
  at: number;
  method: string;
  /** The path without the query (a signed URL carries its signature there). */
  path: string;
  /** The traceparent header as received; absent when the request had none. */
  traceparent?: string;
}

/** How many requests are remembered (the oldest go first). */
const KEEP = 1000;

export function traceRecorder(): { record: (req: IncomingMessage) => void; list: () => ReceivedTrace[] } {
  const received: ReceivedTrace[] = [];
  return {
    record: (req) => {
      const header = req.headers.traceparent;
      const path = (req.url ?? '').split('?')[0];
      if (path.startsWith('/_sim/')) return;
      received.push({ at: Date.now(), method: req.method ?? '', path, ...(typeof header === 'string' ? { traceparent: header } : {}) });
      if (received.length > KEEP) received.splice(0, received.length - KEEP);
    },
    list: () => received.map((r) => ({ ...r })),
  };
}
