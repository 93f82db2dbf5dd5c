// The HTTP client every probe and the platform session use. undici's `request` rather than axios or
// fetch: it takes a dispatcher per request (keep-alive pool, one connection per call, or a TLS
// setting of one call's own), streams the body so a limit can stop a huge one, and is the fastest
// client Node has. Every request carries an AbortSignal: nothing here can outlive its deadline.
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { describeNetworkError, TimeoutMarker } from './failure.js';

export interface TlsSpec {
  insecure_skip_verify?: boolean;
  ca_file?: string;
  server_name?: string;
}

export interface HttpRequestSpec {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  maxBodyBytes: number;
  tls?: TlsSpec;
}

export type HttpOutcome =
  | { ok: true; status: number; headers: Record<string, string | string[]>; body: string; bytes: number; durationMs: number }
  | { ok: false; reason: string; durationMs: number; status?: number; timedOut: boolean };

export class HttpClient {
  private readonly agents = new Map<string, Agent>();

  /** keepAlive: reuse connections, as a customer's SDK would; false opens one connection per call. */
  constructor(private readonly keepAlive = true) {}

  private dispatcher(tls?: TlsSpec): Dispatcher {
    const key = `${tls?.insecure_skip_verify ? 1 : 0}|${tls?.ca_file ?? ''}|${tls?.server_name ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new Agent({
        keepAliveTimeout: 10_000,
        connections: 256,
        connect: {
          rejectUnauthorized: !tls?.insecure_skip_verify,
          ...(tls?.ca_file ? { ca: readFileSync(tls.ca_file) } : {}),
          ...(tls?.server_name ? { servername: tls.server_name } : {}),
        },
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  async send(spec: HttpRequestSpec, parent?: AbortSignal): Promise<HttpOutcome> {
    // One controller, one timer and one listener per request, all released when it ends. (Cheaper
    // than AbortSignal.any + AbortSignal.timeout, which showed up in profiles at thousands of calls.)
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeoutMarker()), spec.timeoutMs);
    const onParentAbort = () => controller.abort(parent!.reason);
    if (parent?.aborted) onParentAbort();
    else parent?.addEventListener('abort', onParentAbort, { once: true });
    const signal = controller.signal;
    const started = performance.now();
    let status: number | undefined;
    try {
      const res = await request(spec.url, {
        method: spec.method as Dispatcher.HttpMethod,
        headers: spec.headers,
        body: spec.body,
        signal,
        dispatcher: this.dispatcher(spec.tls),
        // A fresh connection per call closes it after the answer (blackbox_exporter's behaviour).
        reset: !this.keepAlive,
        headersTimeout: spec.timeoutMs,
        bodyTimeout: spec.timeoutMs,
      } as Parameters<typeof request>[1]);
      status = res.statusCode;
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of res.body) {
        bytes += (chunk as Buffer).length;
        if (bytes > spec.maxBodyBytes) {
          res.body.destroy();
          return {
            ok: false,
            reason: `body larger than the limit of ${spec.maxBodyBytes} bytes (status ${status})`,
            durationMs: performance.now() - started,
            status,
            timedOut: false,
          };
        }
        chunks.push(chunk as Buffer);
      }
      return {
        ok: true,
        status,
        headers: res.headers as Record<string, string | string[]>,
        body: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
        bytes,
        durationMs: performance.now() - started,
      };
    } catch (err) {
      const { reason, timedOut } = describeNetworkError(err, spec.timeoutMs, signal.aborted ? signal : undefined);
      return { ok: false, reason, durationMs: performance.now() - started, status, timedOut };
    } finally {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close().catch(() => a.destroy())));
    this.agents.clear();
  }
}
