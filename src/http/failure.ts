// How a failed request is worded, apart from the client (src/http/client.ts) because the WebSocket
// probe words its failures the same way and loading a config reaches that probe: importing the
// client would load undici (~4 MB of heap) into the serving thread, which sends no request.
/** The abort reason of a request that ran out of time (as opposed to a round deadline or shutdown). */
export class TimeoutMarker extends Error {
  constructor() {
    super('timeout');
    this.name = 'TimeoutMarker';
  }
}

/** Why a request failed, in words an operator understands. */
export function describeNetworkError(err: unknown, timeoutMs: number, signal?: AbortSignal): { reason: string; timedOut: boolean } {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (signal?.aborted) {
    if (signal.reason instanceof TimeoutMarker) return { reason: `timeout after ${timeoutMs}ms`, timedOut: true };
    const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
    return { reason: `aborted: ${why}`, timedOut: false };
  }
  const code = e.code ?? e.cause?.code ?? '';
  const names: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by peer',
    UND_ERR_SOCKET: 'connection closed by peer',
    EPIPE: 'connection closed by peer',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'DNS lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    UND_ERR_HEADERS_TIMEOUT: `timeout after ${timeoutMs}ms waiting for headers`,
    UND_ERR_BODY_TIMEOUT: `timeout after ${timeoutMs}ms reading the body`,
    UND_ERR_CONNECT_TIMEOUT: `timeout after ${timeoutMs}ms connecting`,
    HPE_INVALID_CONSTANT: 'the answer is not valid HTTP',
    HPE_INVALID_HEADER_TOKEN: 'the answer has an invalid HTTP header',
  };
  if (names[code]) return { reason: names[code], timedOut: code.endsWith('TIMEOUT') };
  if (/CERT|SSL|TLS|SELF_SIGNED|ALTNAME/i.test(code)) return { reason: `TLS verification failed (${code})`, timedOut: false };
  const message = e.cause?.message ?? e.message ?? String(err);
  return { reason: code ? `${message} (${code})` : message, timedOut: false };
}
