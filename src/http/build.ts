// Turning a configured request (templates and all) into the exact request to send.
import type { HttpRequest } from '../config/parts.js';
import { render, renderDeep, type TemplateContext } from '../template.js';
import type { HttpRequestSpec } from './client.js';

export interface RequestDefaults {
  timeoutMs: number;
  maxBodyBytes: number;
}

export interface Extra {
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

/** Throws TemplateError for an unknown variable; callers report it as the call's failure. */
export function buildHttpRequest(http: HttpRequest, ctx: TemplateContext, defaults: RequestDefaults, extra: Extra = {}): HttpRequestSpec {
  const url = new URL(render(http.url, ctx));
  for (const [k, v] of Object.entries({ ...extra.query, ...http.query })) url.searchParams.set(k, render(v, ctx));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...extra.headers, ...http.headers })) headers[k.toLowerCase()] = render(v, ctx);
  let body: string | undefined;
  if (http.json !== undefined) {
    body = JSON.stringify(renderDeep(http.json, ctx));
    headers['content-type'] ??= 'application/json';
  } else if (http.form !== undefined) {
    body = new URLSearchParams(Object.entries(renderDeep(http.form, ctx))).toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (http.body !== undefined) {
    body = render(http.body, ctx);
  }
  return {
    method: http.method,
    url: url.toString(),
    headers,
    body,
    timeoutMs: http.timeout ?? defaults.timeoutMs,
    maxBodyBytes: http.max_body_bytes ?? defaults.maxBodyBytes,
    tls: http.tls,
  };
}
