// The field schemas every part of the config shares: durations, JSON paths and assertions, status
// lists, the conditions an answer is held to, an HTTP request, TLS, signing. Below the call kinds
// (src/probes/KIND.ts build their schemas from these) and below the assembled file (schema.ts), so
// neither imports the other to get them.
import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
import { parsePath } from '../jsonpath.js';
import { MAX_TIMER_MS, parseDuration } from '../util/duration.js';

/** A description (and examples) carried into the JSON Schema and docs/config.md. */
export function doc(description: string, ...examples: unknown[]): { description: string; examples?: unknown[] } {
  return examples.length > 0 ? { description, examples } : { description };
}

/** A JSON path such as data.items[0].count. */
export const jsonPath = z
  .string()
  .superRefine((p, ctx) => {
    const parsed = parsePath(p);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  })
  .meta({ id: 'JsonPath', ...doc('A JSON path: dot-separated keys and [index] (data.items[0].count). No `..`, no filters, no wildcards.', 'data.usedCount') });

/** A regular expression, compiled once here to prove it is one. */
export const regex = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^Invalid regular expression: /, 'invalid regular expression ') });
  }
});

/** A URL, unless it is built from templates (checked when the call is made). */
export const urlTemplate = z.string().min(1).superRefine((url, ctx) => {
  if (url.includes('{{')) return;
  try {
    const u = new URL(url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) ctx.addIssue({ code: 'custom', message: `unsupported URL scheme ${u.protocol}` });
  } catch {
    ctx.addIssue({ code: 'custom', message: `invalid URL "${url}"` });
  }
});

/** A cron expression (5 fields, or 6 with seconds first), checked by node-cron, the library that runs it. */
export const cronExpression = z.string().refine((c) => validateCron(c), { error: (i) => `invalid cron expression "${String(i.input)}" (5 fields, or 6 with seconds first)` });

// What an editor checks a duration against (the schema's own check is parseDuration's).
const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h|d))+\\s*$';

/**
 * A duration ("10s", "1m30s", or a number of seconds), parsed to milliseconds, within bounds given
 * where the field is declared. Every duration has an upper bound: a timer past 2^31-1 ms fires at
 * once in Node, so "30d" as a call timeout would fail every call instead of waiting.
 */
export function duration(bounds: { max: string; min?: string; notATimer?: true }) {
  const max = boundMs(bounds.max);
  const min = bounds.min === undefined ? 0 : boundMs(bounds.min);
  // A programming error, caught by every test that loads the schema.
  if (max > MAX_TIMER_MS && !bounds.notATimer) throw new Error(`duration bound ${bounds.max} is longer than a timer can wait`);
  return z
    .union([z.string().meta({ pattern: DURATION_PATTERN }), z.number().meta({ minimum: 0 })])
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (typeof ms === 'string') {
        ctx.addIssue({ code: 'custom', message: ms });
        return z.NEVER;
      }
      const shown = typeof value === 'string' ? `"${value}"` : `${value} (seconds)`;
      if (ms > max) {
        ctx.addIssue({ code: 'custom', message: `${shown} is too long: at most ${bounds.max}` });
        return z.NEVER;
      }
      if (ms < min) {
        ctx.addIssue({ code: 'custom', message: `${shown} is too short: at least ${bounds.min}` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ 'x-duration': { ...(bounds.min ? { min: bounds.min } : {}), max: bounds.max } });
}

function boundMs(text: string): number {
  const ms = parseDuration(text);
  if (typeof ms === 'string') throw new Error(ms);
  return ms;
}

// The bounds shared by several fields. A single call (or its wait for a first frame) past 10 minutes
// is not a patrol any more; a pause inside a call is shorter still.
export const CALL_MAX = '10m';
export const PAUSE_MAX = '1m';

export const stringMap = z.record(z.string(), z.string());

/** `200`, `[200, 204]`, or a class such as `"2xx"`. */
const statusSpec = z.union([
  z.number().int().min(100, 'HTTP status codes are 100 to 599').max(599, 'HTTP status codes are 100 to 599'),
  z.string().regex(/^[1-5]xx$/, 'a status class is written like "2xx"'),
]);
export const statusList = z
  .union([statusSpec, z.array(statusSpec).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .meta({ id: 'StatusList', ...doc('HTTP status codes: one (200), a list ([200, 204]) or a class ("2xx"). The answer meets it when its status is any of them.', 200, [200, 204], '2xx') });

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One condition on a JSON value. At least one operator; they are ANDed. */
export const jsonAssertion = z
  .strictObject({
    path: jsonPath.meta(doc('Where the value is in the JSON answer.', 'code', 'data.result.text')),
    equals: scalar.optional().meta(doc('The value equals this. A number matches the same number written as a string (0 matches "0") and the other way round; nothing else is converted.', 0)),
    not_equals: scalar.optional().meta(doc('The value is present and differs from this (compared like equals).', 10105)),
    exists: z.boolean().optional().meta(doc('true: the path is present; false: it is absent.', true)),
    matches: regex.optional().meta(doc('The value (a string, number or boolean, as text) matches this regular expression.', '^OK$')),
    gt: z.number().optional().meta(doc('The value (a number, or a string holding one) is greater than this.', 0)),
    gte: z.number().optional().meta(doc('Greater than or equal.', 1)),
    lt: z.number().optional().meta(doc('Less than.', 100)),
    lte: z.number().optional().meta(doc('Less than or equal.', 100)),
  })
  .refine(
    (a) => ['equals', 'not_equals', 'exists', 'matches', 'gt', 'gte', 'lt', 'lte'].some((k) => k in a),
    { message: 'an assertion needs at least one of equals, not_equals, exists, matches, gt, gte, lt, lte' },
  )
  .meta({ id: 'JsonAssertion', ...doc('One condition on a value in a JSON answer: a path and at least one operator; every operator given must hold.', { path: 'code', equals: 0 }) });
export type JsonAssertion = z.infer<typeof jsonAssertion>;

/**
 * The conditions an answer can be held to, each written once. A call kind picks the ones that
 * apply to its answers (its `expect` schema); the console's login and counter reads take the HTTP
 * ones (httpExpectation).
 */
export const answerFields = {
  status: statusList.optional().meta(doc("The answer status. A call without it accepts any status; the console's login and counter accept 2xx unless they say otherwise.", 200)),
  json: z.array(jsonAssertion).prefault([]).meta(doc('Conditions on the JSON answer (a script: its stdout).', [{ path: 'code', equals: 0 }])),
  body_regex: regex.optional().meta(doc('The answer body (a script: its stdout) matches this regular expression.', '"ok"')),
  body_not_regex: regex.optional().meta(doc('The answer body does not match this regular expression.', 'error')),
  max_duration: duration({ max: CALL_MAX }).optional().meta(doc('The call took at most this long.', '2s')),
  message_path: jsonPath.optional().meta(doc("JSON path of the answer's own message: quoted (redacted, cut to 160 characters) in the reason of a failure, so the platform's words reach the operator.", 'message')),
};

/** What an HTTP answer can be held to (an HTTP call, the console's login and counter reads). */
export const httpExpectation = z
  .strictObject(answerFields)
  .meta({ id: 'HttpExpectation', ...doc('What an HTTP answer must meet (status, json, body_regex, body_not_regex, max_duration, message_path).') });
export type HttpExpectation = z.infer<typeof httpExpectation>;

/** The conditions a refusal of a bad credential can be held to, each written once; a kind picks. */
export const refusalFields = {
  status: statusList.optional().meta(doc('The refusal status. Without it: 401 or 403 when rejected_when says nothing else (HTTP), and 401 or 403 for a refused WebSocket handshake; a rejected_when with other conditions but no status accepts any HTTP status.', [401, 403])),
  json: z.array(jsonAssertion).prefault([]).meta(doc('Conditions on the JSON refusal.', [{ path: 'code', equals: 10105 }])),
  body_regex: regex.optional().meta(doc('The refusal body matches this regular expression.', 'unauthorized')),
};

export const tlsOptions = z
  .strictObject({
    insecure_skip_verify: z.boolean().default(false).meta(doc('Skip verifying the server certificate (only for a test platform).')),
    ca_file: z.string().optional().meta(doc('A PEM file of CA certificates to trust instead of the system ones.', '/etc/patrol/ca.pem')),
    server_name: z.string().optional().meta(doc('The name to verify the certificate against (and send as SNI), instead of the URL host.', 'api.example.com')),
  })
  .meta({ id: 'Tls', ...doc('TLS settings of one request. Verification is on unless insecure_skip_verify says otherwise.') });

export const httpRequest = z
  .strictObject({
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET').meta(doc('The HTTP method.')),
    url: urlTemplate.meta(doc('http:// or https:// URL; a template.', 'https://api.example.com/v1/ocr?app={{app_id}}')),
    headers: stringMap.prefault({}).meta(doc('Request headers: name -> value. Values are templates; names are written literally.', { 'X-Appid': '{{app_id}}' })),
    query: stringMap.prefault({}).meta(doc('Query parameters added to the URL: name -> value (templates).', { appid: '{{app_id}}' })),
    json: z.unknown().optional().meta(doc('A JSON body (any YAML value; every string in it is a template).', { text: 'hello' })),
    form: stringMap.optional().meta(doc('A form body (application/x-www-form-urlencoded): name -> value (templates).', { user: '{{params.user}}' })),
    body: z.string().optional().meta(doc('A raw text body (a template).', 'ping')),
    timeout: duration({ min: '1ms', max: CALL_MAX }).optional().meta(doc('The whole request (default: global.call_timeout).', '10s')),
    tls: tlsOptions.optional(),
    max_body_bytes: z.number().int().positive().optional().meta(doc('Read at most this many bytes of the answer (default: global.max_body_bytes).', 65536)),
  })
  .refine((r) => [r.json !== undefined, r.form !== undefined, r.body !== undefined].filter(Boolean).length <= 1, {
    message: 'give at most one of json, form, body',
  })
  .meta({ id: 'HttpRequest', ...doc('An HTTP request. At most one of json, form, body.') });
export type HttpRequest = z.infer<typeof httpRequest>;

/** A signed duration ("-10m", "+30s", or seconds): a clock offset, at most a day either way. */
const OFFSET_MAX_MS = 86_400_000;
const offset = z
  .union([z.string().meta({ pattern: '^\\s*[-+]?(\\d+(\\.\\d+)?(ms|s|m|h|d))+\\s*$' }), z.number()])
  .transform((value, ctx) => {
    const negative = typeof value === 'string' ? value.trim().startsWith('-') : value < 0;
    const ms = parseDuration(typeof value === 'string' ? value.trim().replace(/^[-+]/, '') : Math.abs(value));
    if (typeof ms === 'string') {
      ctx.addIssue({ code: 'custom', message: ms });
      return z.NEVER;
    }
    if (ms > OFFSET_MAX_MS) {
      ctx.addIssue({ code: 'custom', message: `${typeof value === 'string' ? `"${value}"` : `${value} (seconds)`} is too far: at most 1d either way` });
      return z.NEVER;
    }
    return negative ? -ms : ms;
  })
  .meta({ 'x-duration': { signed: true, max: '1d' } });

export const jsonObject = z.record(z.string(), z.unknown());

/** How a call proves who it is (docs/clients.md). Every string field is a template. */
export const signSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('xfyun-hmac'),
        api_key: z.string().min(1).meta(doc('The API key (a template).', '{{params.api_key}}')),
        api_secret: z.string().min(1).meta(doc('The API secret (a template).', '{{params.api_secret}}')),
        date_offset: offset.prefault(0).meta(doc('Added to the clock for the signed date: an auth check with "-10m" is outside the platform\'s 300 s skew.', '-10m')),
        host: z.string().min(1).optional().meta(doc('The host to sign (default: the URL\'s host as sent in the Host header, with the port when it is not the default one).', 'iat-api.xfyun.cn')),
      })
      .meta(doc('iFLYTEK HMAC-SHA256 over host, date and request line, sent as the query parameters authorization, date and host.')),
    z
      .strictObject({
        type: z.literal('xfyun-checksum'),
        app_id: z.string().default('{{app_id}}').meta(doc('The X-Appid header (a template).')),
        api_key: z.string().min(1).meta(doc('The API key (a template).', '{{params.api_key}}')),
        param: z.union([z.string(), jsonObject]).prefault({}).meta(doc('The parameters: an object (sent as JSON) or a JSON string; base64 in X-Param.', { engine_type: 'cloud' })),
        time_offset: offset.prefault(0).meta(doc('Added to the clock for X-CurTime (an auth check: "-10m").', '-10m')),
      })
      .meta(doc('iFLYTEK REST: headers X-Appid, X-CurTime, X-Param (base64 JSON) and X-CheckSum = md5(APIKey + CurTime + X-Param).')),
    z
      .strictObject({
        type: z.literal('basic'),
        username: z.string().meta(doc('The user name (a template).', '{{params.user}}')),
        password: z.string().meta(doc('The password (a template).', '{{params.password}}')),
      })
      .meta(doc('HTTP basic authentication.')),
    z.strictObject({ type: z.literal('bearer'), token: z.string().min(1).meta(doc('The token (a template).', '{{params.token}}')) }).meta(doc('Authorization: Bearer <token>.')),
    z.strictObject({ type: z.literal('session') }).meta(doc("The platform console's session (its session.headers and session.query), logging in when needed.")),
  ])
  .meta({ id: 'Sign', ...doc('How a request proves who it is (docs/clients.md), chosen by type. Every string field is a template.') });
export type SignConfig = z.infer<typeof signSchema>;
