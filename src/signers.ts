// Request signers: the ways a customer proves who they are, as data in the config (`sign:` on a call
// or an auth check). Each signer turns a request about to be sent (method, URL, headers, body) into
// the signed request. The pure functions (`xfyunHmac`, `xfyunChecksum`) take every input explicitly,
// including the date, so they can be checked against the platform's published test vectors; the
// `applySigner` wrapper adds the clock and the config.
import { createHash, createHmac } from 'node:crypto';
import type { SignConfig } from './config/parts.js';
import { render, renderDeep, type TemplateContext } from './template.js';

/** The request as the signer sees it. `url` and `headers` are changed in place. */
export interface SignTarget {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
}

/** The platform session's values rendered as its config says they travel (a cookie header, a query value). */
export interface SessionCredentials {
  headers: Record<string, string>;
  query: Record<string, string>;
}

export interface SignContext {
  vars: TemplateContext;
  /** Milliseconds since the epoch; a parameter so tests can fix the clock. */
  now: number;
  /** Only needed by `type: session`: logs in when needed. A string is the reason it could not. */
  session?: () => Promise<SessionCredentials | string>;
}

/** RFC 1123 date in GMT, e.g. `Wed, 10 Jul 2019 07:35:43 GMT` (what `Date.toUTCString` writes). */
export function rfc1123(ms: number): string {
  return new Date(ms).toUTCString();
}

export interface XfyunHmacInput {
  apiKey: string;
  apiSecret: string;
  /** Host as sent in the Host header: name, plus `:port` when the port is not the default. */
  host: string;
  /** RFC 1123 GMT. */
  date: string;
  method: string;
  /** Path without the query, e.g. `/v2/iat`. */
  path: string;
}

export interface XfyunHmacOutput {
  signatureOrigin: string;
  signature: string;
  /** base64 of the authorization_origin line: the `authorization` query parameter. */
  authorization: string;
  /** The three query parameters to add to the URL. */
  query: { authorization: string; date: string; host: string };
}

/**
 * iFLYTEK (xfyun) WebSocket/HTTP HMAC authentication:
 *   signature_origin = "host: H\ndate: D\nGET /path HTTP/1.1"
 *   signature        = base64(HMAC-SHA256(APISecret, signature_origin))
 *   authorization    = base64('api_key="K", algorithm="hmac-sha256", headers="host date request-line", signature="S"')
 * sent as the query parameters authorization, date and host.
 */
export function xfyunHmac(input: XfyunHmacInput): XfyunHmacOutput {
  const requestLine = `${input.method.toUpperCase()} ${input.path} HTTP/1.1`;
  const signatureOrigin = `host: ${input.host}\ndate: ${input.date}\n${requestLine}`;
  const signature = createHmac('sha256', input.apiSecret).update(signatureOrigin, 'utf8').digest('base64');
  const origin = `api_key="${input.apiKey}", algorithm="hmac-sha256", headers="host date request-line", signature="${signature}"`;
  const authorization = Buffer.from(origin, 'utf8').toString('base64');
  return { signatureOrigin, signature, authorization, query: { authorization, date: input.date, host: input.host } };
}

/** iFLYTEK REST (webapi) checksum: lower-case hex md5(APIKey + CurTime + X-Param). */
export function xfyunChecksum(apiKey: string, curTime: string, xParam: string): string {
  return createHash('md5').update(apiKey + curTime + xParam, 'utf8').digest('hex');
}

/** Query parameters whose values are credentials (a signed URL can be replayed for minutes). */
const SECRET_QUERY = /^(authorization|signature|sign|token|access_token|api_key|apikey|key)$/i;

/** A URL fit for an excerpt: credential-bearing query values replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    for (const k of [...u.searchParams.keys()]) if (SECRET_QUERY.test(k)) u.searchParams.set(k, '<redacted>');
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Sign `target` in place as `sign` says. Templates in the signer's fields are filled from
 * `ctx.vars` first. Returns an error message instead of throwing (failures are data).
 */
export async function applySigner(sign: SignConfig, target: SignTarget, ctx: SignContext): Promise<string | null> {
  try {
    switch (sign.type) {
      case 'xfyun-hmac': {
        const signed = xfyunHmac({
          apiKey: render(sign.api_key, ctx.vars),
          apiSecret: render(sign.api_secret, ctx.vars),
          host: sign.host !== undefined ? render(sign.host, ctx.vars) : target.url.host,
          date: rfc1123(ctx.now + sign.date_offset),
          method: target.method,
          path: target.url.pathname,
        });
        for (const [k, v] of Object.entries(signed.query)) target.url.searchParams.set(k, v);
        return null;
      }
      case 'xfyun-checksum': {
        const apiKey = render(sign.api_key, ctx.vars);
        const curTime = String(Math.floor((ctx.now + sign.time_offset) / 1000));
        const param = typeof sign.param === 'string' ? render(sign.param, ctx.vars) : JSON.stringify(renderDeep(sign.param, ctx.vars));
        const xParam = Buffer.from(param, 'utf8').toString('base64');
        target.headers['x-appid'] = render(sign.app_id, ctx.vars);
        target.headers['x-curtime'] = curTime;
        target.headers['x-param'] = xParam;
        target.headers['x-checksum'] = xfyunChecksum(apiKey, curTime, xParam);
        return null;
      }
      case 'basic': {
        const pair = `${render(sign.username, ctx.vars)}:${render(sign.password, ctx.vars)}`;
        target.headers.authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
        return null;
      }
      case 'bearer':
        target.headers.authorization = `Bearer ${render(sign.token, ctx.vars)}`;
        return null;
      case 'session': {
        if (!ctx.session) return 'sign type session: no platform session available here';
        const creds = await ctx.session();
        if (typeof creds === 'string') return `sign type session: ${creds}`;
        for (const [k, v] of Object.entries(creds.headers)) target.headers[k.toLowerCase()] = v;
        for (const [k, v] of Object.entries(creds.query)) target.url.searchParams.set(k, v);
        return null;
      }
    }
  } catch (err) {
    // TemplateError (an unknown name): the message names the variable, never a value.
    return `sign ${sign.type}: ${(err as Error).message}`;
  }
}
