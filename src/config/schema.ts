// The one config schema: every key, its default, its check and its meaning. Unknown keys are
// rejected everywhere (a misspelt key silently ignored is a check silently not made). Checks that
// need the whole file (template names, references between parts) are in load.ts, which reports
// every problem with its path in the file. The descriptions here are the reference:
// `npm run gen:config-docs` turns them into schema/patrol.schema.json and docs/config.md.
import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
import { parsePath } from '../jsonpath.js';
import { MAX_TIMER_MS, parseDuration } from '../util/duration.js';
import { CALL_KINDS, type CallKind } from '../types.js';
import { tracingSchema } from './tracing.js';

/** A description (and examples) carried into the JSON Schema and docs/config.md. */
function doc(description: string, ...examples: unknown[]): { description: string; examples?: unknown[] } {
  return examples.length > 0 ? { description, examples } : { description };
}

// Leaf checks live in the schema so that they are reported together with every other problem.

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const timezone = z.string().refine(validTimezone, { error: (i) => `unknown timezone "${String(i.input)}" (use an IANA name such as Asia/Shanghai)` });
const cronExpression = z.string().refine((c) => validateCron(c), { error: (i) => `invalid cron expression "${String(i.input)}" (5 fields, or 6 with seconds first)` });

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
const CALL_MAX = '10m';
const PAUSE_MAX = '1m';

const stringMap = z.record(z.string(), z.string());

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

/** Process exit codes a script may end with: `0` or `[0, 3]`. */
export const exitCodeList = z
  .union([z.number().int().min(0).max(255), z.array(z.number().int().min(0).max(255)).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .meta({ id: 'ExitCodeList', ...doc('Process exit codes: one (0) or a list ([0, 3]).', 0, [0, 3]) });

/** Expectations on the answer frames of a WebSocket call (each frame is parsed as JSON). */
export const frameExpectation = z
  .strictObject({
    each: z.array(jsonAssertion).prefault([]).meta(doc('Every answer frame meets these.', [{ path: 'code', equals: 0 }])),
    final: z.array(jsonAssertion).prefault([]).meta(doc('The last answer frame meets these.', [{ path: 'data.status', equals: 2 }])),
    any: z.array(jsonAssertion).prefault([]).meta(doc('At least one answer frame meets all of these.', [{ path: 'data.result', exists: true }])),
    min: z.number().int().min(0).default(1).meta(doc('At least this many answer frames.')),
    max_first_frame: duration({ max: CALL_MAX }).optional().meta(doc('Time from connecting to the first answer frame.', '3s')),
  })
  .meta({ id: 'FrameExpectation', ...doc('What the answer frames of a WebSocket call must meet (each frame is parsed as JSON).') });

export const expectation = z
  .strictObject({
    frames: frameExpectation.optional().meta(doc('WebSocket calls only: the answer frames.')),
    exit_code: exitCodeList.optional().meta(doc('Script calls only: the exit codes that count as success (default 0).', 0)),
    status: statusList.optional().meta(doc("The answer status. A call without it accepts any status; the console's login and counter accept 2xx unless they say otherwise.", 200)),
    json: z.array(jsonAssertion).prefault([]).meta(doc('Conditions on the JSON answer (a script: its stdout).', [{ path: 'code', equals: 0 }])),
    body_regex: regex.optional().meta(doc('The answer body (a script: its stdout) matches this regular expression.', '"ok"')),
    body_not_regex: regex.optional().meta(doc('The answer body does not match this regular expression.', 'error')),
    max_duration: duration({ max: CALL_MAX }).optional().meta(doc('The call took at most this long.', '2s')),
    message_path: jsonPath.optional().meta(doc("JSON path of the answer's own message: quoted (redacted, cut to 160 characters) in the reason of a failure, so the platform's words reach the operator.", 'message')),
  })
  .meta({ id: 'Expectation', ...doc('What makes a call a success. Every condition given must hold.') });
export type Expectation = z.infer<typeof expectation>;

/** What an HTTP answer can be held to (the console's login and counter reads): no frames, no exit code. */
export const httpExpectation = expectation
  .omit({ frames: true, exit_code: true })
  .meta({ id: 'HttpExpectation', ...doc('What an HTTP answer of the console must meet (status, json, body_regex, body_not_regex, max_duration).') });

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

const jsonObject = z.record(z.string(), z.unknown());

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

/** Sends payload chunks from a file at a pace, each in a JSON frame (`{{chunk}}`: the chunk in base64). */
export const wsStream = z
  .strictObject({
    file: z.string().min(1).meta(doc("The payload file; a relative path starts at the config file's folder.", 'audio/sample.pcm')),
    chunk_bytes: z.number().int().min(1).max(1_048_576).default(1280).meta(doc('Bytes per chunk.')),
    interval: duration({ max: PAUSE_MAX }).prefault('40ms').meta(doc('Time between chunks, paced from the start (no drift).')),
    first: jsonObject.optional().meta(doc('The frame of the first chunk (default: middle).', { common: { app_id: '{{app_id}}' }, data: { status: 0, audio: '{{chunk}}' } })),
    middle: jsonObject.meta(doc('The frame of each chunk; {{chunk}} is the chunk in base64.', { data: { status: 1, audio: '{{chunk}}' } })),
    last: jsonObject.optional().meta(doc('Sent once after the last chunk; {{chunk}} is empty here.', { data: { status: 2, audio: '' } })),
    max_chunks: z.number().int().min(1).max(100_000).default(10_000).meta(doc('Stop after this many chunks.')),
  })
  .meta({ id: 'WsStream', ...doc('Sends a file in paced chunks, each in a JSON frame.') });

/** One step of what a WebSocket call sends: a JSON frame, a text frame, a stream, or a pause. */
export const wsStep = z
  .strictObject({
    json: z.unknown().optional().meta(doc('Send this as a JSON text frame (strings are templates).', { hello: '{{app_id}}' })),
    text: z.string().optional().meta(doc('Send this text frame (a template).', 'ping')),
    stream: wsStream.optional(),
    wait: duration({ max: PAUSE_MAX }).optional().meta(doc('Pause this long.', '100ms')),
  })
  .refine((f) => [f.json, f.text, f.stream, f.wait].filter((x) => x !== undefined).length === 1, {
    message: 'a send step is exactly one of json, text, stream, wait',
  })
  .meta({ id: 'WsStep', ...doc('One step of what a WebSocket call sends: exactly one of json, text, stream, wait.') });

export const websocketRequest = z
  .strictObject({
    url: urlTemplate.meta(doc('ws://, wss://, or http(s):// (sent as ws(s)://); a template.', 'wss://iat-api.xfyun.cn/v2/iat')),
    headers: stringMap.prefault({}).meta(doc('Handshake headers: name -> value (templates).')),
    query: stringMap.prefault({}).meta(doc('Query parameters added to the URL (templates).')),
    subprotocols: z.array(z.string().min(1)).prefault([]).meta(doc('Sec-WebSocket-Protocol values to offer.', ['chat'])),
    send: z.array(wsStep).prefault([]).meta(doc('What to send, in order.')),
    until: z.array(jsonAssertion).prefault([]).meta(doc('Close normally once an answer frame meets these; without them, wait for the server to close.', [{ path: 'data.status', equals: 2 }])),
    timeout: duration({ min: '1ms', max: CALL_MAX }).optional().meta(doc('The whole conversation (default: global.call_timeout).', '15s')),
    tls: tlsOptions.optional(),
    max_frames: z.number().int().min(1).max(100_000).default(1000).meta(doc('Stop reading after this many answer frames.')),
    max_frame_bytes: z.number().int().positive().default(1_048_576).meta(doc('Refuse an answer frame larger than this.')),
  })
  .meta({ id: 'WebsocketRequest', ...doc('A WebSocket conversation.') });
export type WebsocketRequest = z.infer<typeof websocketRequest>;

export const scriptRequest = z
  .strictObject({
    command: z.array(z.string().min(1)).min(1).meta(doc('The program and its arguments (argv, each a template), never a shell string.', ['./scripts/ocr.sh', '{{app_id}}'])),
    cwd: z.string().optional().meta(doc("The working folder; a relative path starts at the config file's folder, which is also the default.", 'scripts')),
    env: stringMap.prefault({}).meta(doc('Extra environment variables (templates), besides the PATROL_* values (docs/clients.md).', { API_KEY: '{{params.api_key}}' })),
    timeout: duration({ min: '1ms', max: CALL_MAX }).optional().meta(doc('Kill the process group after this long (default: global.call_timeout).', '30s')),
    max_output_bytes: z.number().int().min(1024).max(16_777_216).default(65_536).meta(doc('Per stream (stdout, stderr); the rest is read and dropped.')),
  })
  .meta({ id: 'ScriptRequest', ...doc('A program run as the call; its stdout is the answer.') });
export type ScriptRequest = z.infer<typeof scriptRequest>;

/** A call or an auth check names exactly one kind (HTTP, WebSocket, or a script): which one. */
export function kindOf(c: Partial<Record<CallKind, unknown>>): CallKind | undefined {
  return CALL_KINDS.find((k) => c[k] !== undefined);
}

/** Each kind's request, under its own key of a call and of an auth check. A Record over the call
 *  kinds, so a new kind cannot be left out of the schema. */
const KIND_REQUESTS = {
  http: httpRequest.optional(),
  websocket: websocketRequest.optional(),
  script: scriptRequest.optional(),
} satisfies Record<CallKind, z.ZodType>;

const exactlyOneKind = {
  check: (c: Record<string, unknown>) => CALL_KINDS.filter((k) => c[k] !== undefined).length === 1,
  message: `give exactly one of ${CALL_KINDS.join(', ')}`,
};

export const callSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'call names are ASCII letters, digits, _ . : -').max(64).meta(doc('The call label of the call metrics: ASCII letters, digits, _ . : - (at most 64).', 'recognise')),
    ...KIND_REQUESTS,
    sign: signSchema.optional().meta(doc('How the call is signed (HTTP and WebSocket calls).')),
    expect: expectation.prefault({}).meta(doc('What makes the call a success.')),
    extract: z.record(z.string(), jsonPath).prefault({}).meta(doc('Values for later calls ({{extracted.NAME}}): name -> JSON path in the answer.', { sid: 'sid' })),
    units: z.number().int().min(0).default(1).meta(doc('Metered units a successful call adds to the counter.')),
  })
  .refine(exactlyOneKind.check, { message: exactlyOneKind.message })
  .meta({ id: 'Call', ...doc('One billed call: exactly one of http, websocket, script.') });
export type CallConfig = z.infer<typeof callSchema>;

/** What counts as "the bad credential was refused". Default: status 401 or 403. */
export const rejection = z
  .strictObject({
    status: statusList.optional().meta(doc('The refusal status. Without rejected_when it is 401 or 403; a rejected_when without status accepts any status for HTTP, and 401 or 403 for a refused WebSocket handshake.', [401, 403])),
    json: z.array(jsonAssertion).prefault([]).meta(doc('Conditions on the JSON refusal.', [{ path: 'code', equals: 10105 }])),
    body_regex: regex.optional().meta(doc('The refusal body matches this regular expression.', 'unauthorized')),
    first_frame: z.array(jsonAssertion).optional().meta(doc('WebSocket: the handshake was accepted and the first answer frame meets these.', [{ path: 'code', equals: 10313 }])),
    exit_code: exitCodeList.optional().meta(doc('Script: the process ended with one of these codes.', 3)),
  })
  .meta({ id: 'Rejection', ...doc('What counts as "the bad credential was refused". Every condition given must hold.') });

export const authCheckSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'check names are ASCII letters, digits, _ . : -').max(64).meta(doc('The check label of the auth metrics: ASCII letters, digits, _ . : - (at most 64).', 'wrong_secret')),
    ...KIND_REQUESTS,
    sign: signSchema.optional().meta(doc('How the request is signed, usually with a wrong secret, key or date.')),
    app_id: z.string().min(1).optional().meta(doc("Use this app id instead of the service's ({{app_id}} in templates): the unknown-app-id check.", 'no-such-app')),
    rejected_when: rejection.prefault({ status: [401, 403] }).meta(doc('What counts as refused (default: status 401 or 403).')),
  })
  .refine(exactlyOneKind.check, { message: exactlyOneKind.message })
  .meta({ id: 'AuthCheck', ...doc('A request with a bad credential that must be refused (and must not be billed): exactly one of http, websocket, script.') });
export type AuthCheckConfig = z.infer<typeof authCheckSchema>;

export const platformSchema = z
  .strictObject({
    timezone: timezone.default('Asia/Shanghai').meta(doc("The platform's day: its counters reset at midnight here (an IANA name).", 'Asia/Shanghai')),
    login: z
      .strictObject({
        http: httpRequest.meta(doc('The login request; templates can use vars.X.')),
        expect: httpExpectation.prefault({}).meta(doc('What a successful login answer meets.')),
        extract: stringMap
          .refine((m) => Object.keys(m).length > 0, 'extract at least one session value')
          .meta(doc('Session values ({{session.NAME}}): name -> JSON path in the login answer, or cookie:NAME for a Set-Cookie value.', { sso: 'data.sid', jsession: 'cookie:JSESSIONID' })),
      })
      .meta(doc("How to log in to the platform's console.")),
    session: z
      .strictObject({
        headers: stringMap.prefault({}).meta(doc('Headers added to counter reads and session-signed calls (templates with session.X).', { Cookie: 'SSO={{session.sso}}' })),
        query: stringMap.prefault({}).meta(doc('Query parameters added likewise.', { token: '{{session.token}}' })),
        max_age: duration({ min: '1s', max: '24h' }).prefault('30m').meta(doc('Log in again after this long even if the platform has not said so.')),
      })
      .prefault({})
      .meta(doc('How the session rides on later requests.')),
    not_logged_in: z
      .strictObject({
        status: statusList.optional().meta(doc('Statuses that mean "log in again" (when not given: 401 and 403).', [401, 403])),
        json: z.array(jsonAssertion).prefault([]).meta(doc('A JSON answer meeting all of these means "log in again".', [{ path: 'code', equals: 11201 }])),
        body_regex: regex.optional().meta(doc('A body matching this means "log in again".', 'login\\.html')),
      })
      .prefault({ status: [401, 403] })
      .meta(doc('An answer to a counter read that means "log in again, then read once more". Any one of status, json (all its conditions) or body_regex is enough.')),
    counter: z
      .strictObject({
        http: httpRequest.meta(doc("The request that reads a service's count for today; a template with the service's values and session.X.")),
        expect: httpExpectation.prefault({}).meta(doc('What a good counter answer meets.')),
        value: jsonPath.meta(doc("JSON path of today's count in the answer.", 'data.usedCount')),
      })
      .meta(doc("How to read a service's usage counter.")),
  })
  .meta({ id: 'Platform', ...doc("A platform's console: how to log in and read each service's usage counter.") });
export type PlatformConfig = z.infer<typeof platformSchema>;

const settleFields = {
  timeout: duration({ max: '1h' }).meta(doc('Give up waiting for the expected delta after this long.', '2m')),
  poll_interval: duration({ min: '1ms', max: '5m' }).meta(doc('Time between counter reads while waiting.', '10s')),
  confirm_reads: z.number().int().min(0).max(10).meta(doc('Reads that must still show the expected delta after it first appeared ("and stays there").', 1)),
  quiet_period: duration({ max: '1h' }).meta(
    doc("When nothing should have been charged, wait at least this long for an unexpected charge (default: the settle time learnt from the service's earlier rounds, or the timeout).", '10s'),
  ),
};

export const settleSchema = z
  .strictObject({
    timeout: settleFields.timeout.prefault('60s'),
    poll_interval: settleFields.poll_interval.prefault('1s'),
    confirm_reads: settleFields.confirm_reads.default(1),
    quiet_period: settleFields.quiet_period.optional(),
  })
  .meta({ id: 'Settle', ...doc('How long to wait for the metering to show the calls, and how to tell it has.') });
export type SettleConfig = z.infer<typeof settleSchema>;

/**
 * A service's own settle values: only the keys it sets override global.settle. No defaults here
 * (a default would silently replace the global value for every key the service did not set).
 */
const settleOverride = z
  .strictObject({
    timeout: settleFields.timeout.optional(),
    poll_interval: settleFields.poll_interval.optional(),
    confirm_reads: settleFields.confirm_reads.optional(),
    quiet_period: settleFields.quiet_period.optional(),
  })
  .meta({ id: 'SettleOverride', ...doc("A service's own settle values: each key given overrides global.settle; the others come from there.", { timeout: '90s' }) });

export const serviceSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, 'service ids are ASCII letters, digits, _ . : - (they become metric labels)')
      .max(64)
      .meta(doc('The service_id label: ASCII letters, digits, _ . : - (at most 64), unique.', 'ocr')),
    name: z.string().min(1).optional().meta(doc('A readable name for pages and the digest (default: the id).', '文字识别')),
    platform: z.string().optional().meta(doc('The platform (a key of platforms) whose counter and session this service uses; required when more than one platform is configured.', 'console')),
    app_id: z.string().default('').meta(doc('The app id ({{app_id}}).', 'a1b2c3d4')),
    business_id: z.string().default('').meta(doc('The business id ({{business_id}}), if the platform has one.', 'ocr_general')),
    params: stringMap.prefault({}).meta(doc('Free values for templates ({{params.X}}); put credentials here as ${ENV_VAR}. Like app_id, business_id and name, a value may use {{vars.X}} (filled at load) and no other template.', { api_key: '${OCR_API_KEY}' })),
    metering: z
      .strictObject({
        mode: z.enum(['exact', 'at_least']).default('exact').meta(doc('exact: the counter delta equals the units called; at_least: other traffic shares this app id, so delta >= units.')),
        settle: settleOverride.prefault({}),
      })
      .prefault({})
      .meta(doc('How the counter is judged.')),
    calls: z.array(callSchema).min(1, 'a service needs at least one call').meta(doc('The billed calls, made in order.')),
    auth_checks: z.array(authCheckSchema).prefault([]).meta(doc('Requests with bad credentials that must be refused and not billed.')),
    enabled: z.boolean().default(true).meta(doc('false: skip this service in rounds.')),
  })
  .meta({ id: 'Service', ...doc('One service on a platform: its calls, auth checks and how its metering is judged.') });
export type ServiceConfig = z.infer<typeof serviceSchema>;

export const globalSchema = z
  .strictObject({
    schedule: cronExpression.default('*/5 * * * *').meta(doc('When rounds run: cron (5 fields, or 6 with seconds first) in timezone.', '*/10 * * * *')),
    timezone: timezone.default('Asia/Shanghai').meta(doc('The timezone of schedule (an IANA name).', 'UTC')),
    run_on_start: z.boolean().default(true).meta(doc('Run a round at start, not only on the schedule.')),
    concurrency: z.number().int().min(1).max(10_000).default(8).meta(doc('Requests in flight at once across services (waiting for metering does not hold a slot).')),
    round_timeout: duration({ min: '1ms', max: '6h' }).prefault('4m').meta(doc("The whole round's deadline.")),
    call_timeout: duration({ min: '1ms', max: CALL_MAX }).prefault('15s').meta(doc("Each call's deadline unless the call sets its own timeout.")),
    keep_alive: z.boolean().default(true).meta(doc('Reuse connections between calls (like an SDK client); false opens one per call (like blackbox).')),
    max_body_bytes: z.number().int().positive().default(1_048_576).meta(doc('Read at most this many bytes of an answer.')),
    settle: settleSchema.prefault({}),
    tracing: tracingSchema.prefault({}),
  })
  .meta({ id: 'Global', ...doc('When rounds run and their limits.') });
export type GlobalConfig = z.infer<typeof globalSchema>;

// History, the daily digest, mail delivery and the protection of the web endpoints
// (docs/history-and-digest.md). Defaults are written once, in the schemas (prefault parses `{}`).
const cronExpr = z.string().refine((s) => validateCron(s), { message: 'invalid cron expression (5 fields, or 6 with seconds first)' });

export const storageSchema = z
  .strictObject({
    path: z.string().min(1).default('patrol.db').meta(doc('The SQLite file; a relative path starts in the working directory. ":memory:" keeps nothing (tests only).', '/var/lib/patrol/patrol.db')),
    retention: duration({ min: '1h', max: '36500d', notATimer: true }).prefault('30d').meta(doc('Rounds that started longer ago than this are deleted.', '90d')),
    maintenance_schedule: cronExpr.default('17 * * * *').meta(doc('When history is pruned and undelivered digests are retried (cron, in global.timezone).')),
  })
  .meta({ id: 'Storage', ...doc('Round history.') });
export type StorageConfig = z.infer<typeof storageSchema>;

export const digestSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta(doc('Send the digest on schedule (needs the smtp section).')),
    schedule: cronExpr.default('0 9 * * *').meta(doc('When the digest is sent (cron, in global.timezone).', '30 8 * * 1-5')),
    day: z.enum(['previous', 'current']).default('previous').meta(doc('Which day a scheduled digest reports: the day before the schedule fired, or the same day.')),
    locale: z.enum(['zh', 'en']).default('zh').meta(doc('The language of the digest.')),
    subject: z
      .string()
      .min(1)
      .refine((s) => [...s.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].every((m) => m[1] === 'date'), { message: 'the subject can only use {{date}}' })
      .default('开放平台服务调用巡检报告 {{date}}')
      .meta(doc('The subject; {{date}} is the reported day (YYYY-MM-DD).', 'API patrol {{date}}')),
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).max(20).default(5).meta(doc('Delivery attempts per send.')),
        backoff: duration({ max: '1h' }).prefault('30s').meta(doc('Wait before the second attempt; doubled each time.')),
        max_backoff: duration({ max: '24h' }).prefault('10m').meta(doc('The longest wait between attempts.')),
      })
      .prefault({})
      .meta(doc('Delivery attempts, waiting backoff, 2x backoff, ... (at most max_backoff) between them.')),
  })
  .meta({ id: 'Digest', ...doc('The daily digest mail.') });
export type DigestConfig = z.infer<typeof digestSchema>;

const recipients = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

export const smtpSchema = z
  .strictObject({
    host: z.string().min(1).meta(doc('The SMTP server.', 'smtp.example.com')),
    port: z.number().int().min(1).max(65535).optional().meta(doc('Default: 465 for implicit TLS, 587 for STARTTLS, 25 without TLS.', 587)),
    tls: z.enum(['implicit', 'starttls', 'none']).default('starttls').meta(doc('implicit: TLS from the first byte (SMTPS); starttls: the upgrade is required; none: plain text.')),
    insecure_skip_verify: z.boolean().default(false).meta(doc("Skip verifying the server's certificate.")),
    username: z.string().default('').meta(doc('Put credentials here as ${ENV_VAR}; empty means no authentication.', '${SMTP_USER}')),
    password: z.string().default('').meta(doc('Given together with username.', '${SMTP_PASSWORD}')),
    from: z.string().min(1).meta(doc('The sender.', 'patrol@example.com')),
    to: recipients.meta(doc('One recipient or a list.', ['ops@example.com'])),
    cc: z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (Array.isArray(v) ? v : [v])).prefault([]).meta(doc('Copies: one address or a list.', 'lead@example.com')),
    timeout: duration({ min: '1ms', max: CALL_MAX }).prefault('30s').meta(doc('Per SMTP connection and command.')),
  })
  .refine((s) => (s.username === '') === (s.password === ''), { message: 'give both username and password, or neither' })
  .meta({ id: 'Smtp', ...doc('Mail delivery; without it no digest is sent (`patrol digest --out` still works).') });
export type SmtpConfig = z.infer<typeof smtpSchema>;

export const webSchema = z
  .strictObject({
    auth: z
      .strictObject({
        bearer_token: z.string().default('').meta(doc('Admin credential: Authorization: Bearer <token> (put it here as ${ENV_VAR}).', '${PATROL_WEB_TOKEN}')),
        basic: z
          .strictObject({
            username: z.string().min(1).meta(doc('The viewer user name.', 'viewer')),
            password: z.string().min(1).meta(doc('The viewer password (as ${ENV_VAR}).', '${PATROL_WEB_PASSWORD}')),
          })
          .optional()
          .meta(doc('Viewer credential: HTTP basic authentication.')),
      })
      .prefault({})
      .meta(doc('Protects every endpoint but /-/healthy when either credential is set (empty means not set).')),
    metrics_auth: z.enum(['same', 'none']).default('same').meta(doc('same: /metrics needs the same credentials; none: /metrics stays open.')),
  })
  .meta({ id: 'Web', ...doc("The exporter's own endpoints.") });
export type WebConfig = z.infer<typeof webSchema>;

export const configSchema = z
  .strictObject({
    global: globalSchema.prefault({}),
    vars: stringMap.prefault({}).meta(doc('Plain values for templates ({{vars.X}}): base URLs and the like, not secrets. A var may use other vars ({{vars.base}}/v1).', { base: 'https://api.example.com' })),
    platforms: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'platform names are ASCII letters, digits, _ . -'), platformSchema)
      .meta(doc('The platforms: name (ASCII letters, digits, _ . -) -> its console login and counter.')),
    services: z.array(serviceSchema).min(1, 'configure at least one service').meta(doc('The services to patrol (at least one).')),
    storage: storageSchema.prefault({}),
    digest: digestSchema.prefault({}),
    smtp: smtpSchema.optional(),
    web: webSchema.prefault({}),
  })
  .meta({ title: 'patrol_exporter configuration', ...doc('The config file of patrol_exporter (patrol --config.file).') });
export type Config = z.infer<typeof configSchema>;
