// The one config schema: every key, its default and its check. Unknown keys are rejected everywhere
// (a misspelt key silently ignored is a check silently not made). Values that need more than a type
// (cron, timezone, JSON path, regex, template names) are checked in load.ts, which reports every
// problem with its path in the file.
import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
import { parsePath } from '../jsonpath.js';
import { parseDuration } from '../util/duration.js';

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
export const jsonPath = z.string().superRefine((p, ctx) => {
  const parsed = parsePath(p);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

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

/** A duration ("10s", "1m30s", or a number of seconds), parsed to milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (typeof ms === 'string') {
    ctx.addIssue({ code: 'custom', message: ms });
    return z.NEVER;
  }
  return ms;
});

const stringMap = z.record(z.string(), z.string());

/** `200`, `[200, 204]`, or a class such as `"2xx"`. */
const statusSpec = z.union([
  z.number().int().min(100, 'HTTP status codes are 100 to 599').max(599, 'HTTP status codes are 100 to 599'),
  z.string().regex(/^[1-5]xx$/, 'a status class is written like "2xx"'),
]);
export const statusList = z.union([statusSpec, z.array(statusSpec).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One condition on a JSON value. At least one operator; they are ANDed. */
export const jsonAssertion = z
  .strictObject({
    path: jsonPath,
    equals: scalar.optional(),
    not_equals: scalar.optional(),
    exists: z.boolean().optional(),
    matches: regex.optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
  })
  .refine(
    (a) => ['equals', 'not_equals', 'exists', 'matches', 'gt', 'gte', 'lt', 'lte'].some((k) => k in a),
    { message: 'an assertion needs at least one of equals, not_equals, exists, matches, gt, gte, lt, lte' },
  );
export type JsonAssertion = z.infer<typeof jsonAssertion>;

/** Process exit codes a script may end with: `0` or `[0, 3]`. */
export const exitCodeList = z
  .union([z.number().int().min(0).max(255), z.array(z.number().int().min(0).max(255)).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]));

/** Expectations on the answer frames of a WebSocket call (each frame is parsed as JSON). */
export const frameExpectation = z.strictObject({
  /** Every answer frame meets these (e.g. code == 0). */
  each: z.array(jsonAssertion).default([]),
  /** The last answer frame meets these (e.g. data.status == 2). */
  final: z.array(jsonAssertion).default([]),
  /** At least one answer frame meets all of these (e.g. a result field present). */
  any: z.array(jsonAssertion).default([]),
  /** At least this many answer frames. */
  min: z.number().int().min(0).default(1),
  /** Time from connecting to the first answer frame. */
  max_first_frame: duration.optional(),
});

export const expectation = z.strictObject({
  /** WebSocket calls only. */
  frames: frameExpectation.optional(),
  /** Script calls only (default 0). */
  exit_code: exitCodeList.optional(),
  status: statusList.optional(),
  json: z.array(jsonAssertion).default([]),
  body_regex: regex.optional(),
  body_not_regex: regex.optional(),
  max_duration: duration.optional(),
  /** JSON path of the answer's own message (e.g. `message`): quoted, redacted, in the reason of a failure. */
  message_path: jsonPath.optional(),
});
export type Expectation = z.infer<typeof expectation>;

/** What an HTTP answer can be held to (the console's login and counter reads): no frames, no exit code. */
export const httpExpectation = expectation.omit({ frames: true, exit_code: true });

export const tlsOptions = z.strictObject({
  /** Verification is on unless this says otherwise, per call. */
  insecure_skip_verify: z.boolean().default(false),
  ca_file: z.string().optional(),
  server_name: z.string().optional(),
});

export const httpRequest = z
  .strictObject({
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
    url: urlTemplate,
    headers: stringMap.default({}),
    query: stringMap.default({}),
    json: z.unknown().optional(),
    form: stringMap.optional(),
    body: z.string().optional(),
    timeout: duration.optional(),
    tls: tlsOptions.optional(),
    max_body_bytes: z.number().int().positive().optional(),
  })
  .refine((r) => [r.json !== undefined, r.form !== undefined, r.body !== undefined].filter(Boolean).length <= 1, {
    message: 'give at most one of json, form, body',
  });
export type HttpRequest = z.infer<typeof httpRequest>;

/** A signed duration ("-10m", "+30s", or seconds): a clock offset. */
const offset = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const negative = typeof value === 'string' ? value.trim().startsWith('-') : value < 0;
  const ms = parseDuration(typeof value === 'string' ? value.trim().replace(/^[-+]/, '') : Math.abs(value));
  if (typeof ms === 'string') {
    ctx.addIssue({ code: 'custom', message: ms });
    return z.NEVER;
  }
  return negative ? -ms : ms;
});

const jsonObject = z.record(z.string(), z.unknown());

/** How a call proves who it is (docs/clients.md). Every string field is a template. */
export const signSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** iFLYTEK HMAC-SHA256 over host, date and request line, sent as the query authorization, date, host. */
    type: z.literal('xfyun-hmac'),
    api_key: z.string().min(1),
    api_secret: z.string().min(1),
    /** Added to the clock for the signed date (an auth check: "-10m" is outside the 300 s skew). */
    date_offset: offset.default(0),
    /** The host to sign (default: the URL's host, as sent in the Host header). */
    host: z.string().min(1).optional(),
  }),
  z.strictObject({
    /** iFLYTEK REST: X-Appid, X-CurTime, X-Param (base64 JSON), X-CheckSum = md5(APIKey + CurTime + X-Param). */
    type: z.literal('xfyun-checksum'),
    app_id: z.string().default('{{app_id}}'),
    api_key: z.string().min(1),
    /** The parameters: an object (sent as JSON) or a JSON string. */
    param: z.union([z.string(), jsonObject]).default({}),
    time_offset: offset.default(0),
  }),
  z.strictObject({ type: z.literal('basic'), username: z.string(), password: z.string() }),
  z.strictObject({ type: z.literal('bearer'), token: z.string().min(1) }),
  /** The platform's console session (its session.headers and session.query), logging in when needed. */
  z.strictObject({ type: z.literal('session') }),
]);
export type SignConfig = z.infer<typeof signSchema>;

/** Sends payload chunks from a file at a pace, each in a JSON frame (`{{chunk}}`: the chunk in base64). */
export const wsStream = z.strictObject({
  /** Relative paths start at the config file's folder. */
  file: z.string().min(1),
  chunk_bytes: z.number().int().min(1).max(1_048_576).default(1280),
  interval: duration.default(40),
  /** The frame of the first chunk (default: middle). */
  first: jsonObject.optional(),
  middle: jsonObject,
  /** Sent once after the last chunk; `{{chunk}}` is empty here. */
  last: jsonObject.optional(),
  max_chunks: z.number().int().min(1).max(100_000).default(10_000),
});

/** One step of what a WebSocket call sends: a JSON frame, a text frame, a stream, or a pause. */
export const wsStep = z
  .strictObject({
    json: z.unknown().optional(),
    text: z.string().optional(),
    stream: wsStream.optional(),
    wait: duration.optional(),
  })
  .refine((f) => [f.json, f.text, f.stream, f.wait].filter((x) => x !== undefined).length === 1, {
    message: 'a send step is exactly one of json, text, stream, wait',
  });

export const websocketRequest = z.strictObject({
  /** ws://, wss://, or http(s):// (mapped to ws(s)://). */
  url: urlTemplate,
  headers: stringMap.default({}),
  query: stringMap.default({}),
  subprotocols: z.array(z.string().min(1)).default([]),
  send: z.array(wsStep).default([]),
  /** Stop (close normally) once an answer frame meets these; without it, wait for the server to close. */
  until: z.array(jsonAssertion).default([]),
  timeout: duration.optional(),
  tls: tlsOptions.optional(),
  max_frames: z.number().int().min(1).max(100_000).default(1000),
  max_frame_bytes: z.number().int().positive().default(1_048_576),
});
export type WebsocketRequest = z.infer<typeof websocketRequest>;

export const scriptRequest = z.strictObject({
  /** The program and its arguments (argv), never a shell string. */
  command: z.array(z.string().min(1)).min(1),
  /** Relative paths start at the config file's folder, which is also the default. */
  cwd: z.string().optional(),
  env: stringMap.default({}),
  timeout: duration.optional(),
  /** Per stream (stdout, stderr); the rest is read and dropped. */
  max_output_bytes: z.number().int().min(1024).max(16_777_216).default(65_536),
});
export type ScriptRequest = z.infer<typeof scriptRequest>;

/** The kinds of call; a call names exactly one of them (DESIGN.md: HTTP, WebSocket, or a script). */
export const CALL_KINDS = ['http', 'websocket', 'script'] as const;
const exactlyOneKind = {
  check: (c: Record<string, unknown>) => CALL_KINDS.filter((k) => c[k] !== undefined).length === 1,
  message: `give exactly one of ${CALL_KINDS.join(', ')}`,
};

export const callSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'call names are ASCII letters, digits, _ . : -').max(64),
    http: httpRequest.optional(),
    websocket: websocketRequest.optional(),
    script: scriptRequest.optional(),
    /** How the call is signed (HTTP and WebSocket calls). */
    sign: signSchema.optional(),
    expect: expectation.default({ json: [] }),
    /** Values to carry to later calls: name -> JSON path in the answer. */
    extract: z.record(z.string(), jsonPath).default({}),
    /** Metered units a successful call should add to the counter. */
    units: z.number().int().min(0).default(1),
  })
  .refine(exactlyOneKind.check, { message: exactlyOneKind.message });
export type CallConfig = z.infer<typeof callSchema>;

/** What counts as "the bad credential was refused". Default: status 401 or 403. */
export const rejection = z.strictObject({
  status: statusList.optional(),
  json: z.array(jsonAssertion).default([]),
  body_regex: regex.optional(),
  /** WebSocket: the handshake was accepted and the first answer frame meets these (e.g. code == 10313). */
  first_frame: z.array(jsonAssertion).optional(),
  /** Script: the process ended with one of these codes. */
  exit_code: exitCodeList.optional(),
});

export const authCheckSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'check names are ASCII letters, digits, _ . : -').max(64),
    http: httpRequest.optional(),
    websocket: websocketRequest.optional(),
    script: scriptRequest.optional(),
    sign: signSchema.optional(),
    /** Use this app id instead of the service's ({{app_id}} in templates): the "unknown app id" check. */
    app_id: z.string().min(1).optional(),
    rejected_when: rejection.default({ status: [401, 403], json: [] }),
  })
  .refine(exactlyOneKind.check, { message: exactlyOneKind.message });
export type AuthCheckConfig = z.infer<typeof authCheckSchema>;

export const platformSchema = z.strictObject({
  /** The platform's day: its counters reset at midnight here. */
  timezone: timezone.default('Asia/Shanghai'),
  login: z.strictObject({
    http: httpRequest,
    expect: httpExpectation.default({ json: [] }),
    /** Session values: name -> JSON path in the login answer, or `cookie:NAME` for a Set-Cookie value. */
    extract: stringMap.refine((m) => Object.keys(m).length > 0, 'extract at least one session value'),
  }),
  /** How the session rides on later requests (templated with session.X). */
  session: z
    .strictObject({
      headers: stringMap.default({}),
      query: stringMap.default({}),
      /** Log in again after this long even if the platform has not said so. */
      max_age: duration.default(1_800_000),
    })
    .default({ headers: {}, query: {}, max_age: 1_800_000 }),
  /** An answer that means "log in again": checked on every counter read. */
  not_logged_in: z
    .strictObject({
      status: statusList.optional(),
      json: z.array(jsonAssertion).default([]),
      body_regex: regex.optional(),
    })
    .default({ status: [401, 403], json: [] }),
  counter: z.strictObject({
    http: httpRequest,
    expect: httpExpectation.default({ json: [] }),
    /** JSON path of today's count in the answer. */
    value: jsonPath,
  }),
});
export type PlatformConfig = z.infer<typeof platformSchema>;

export const settleSchema = z.strictObject({
  /** Give up waiting for the expected delta after this long. */
  timeout: duration.default(60_000),
  poll_interval: duration.refine((ms) => ms > 0, 'must be greater than 0').default(1_000),
  /** Reads that must still show the expected delta after it first appeared ("and stays there"). */
  confirm_reads: z.number().int().min(0).max(10).default(1),
  /** When nothing should have been charged, wait at least this long for an unexpected charge.
   *  Default: the settle time learnt from this service's earlier rounds, or the timeout. */
  quiet_period: duration.optional(),
});
export type SettleConfig = z.infer<typeof settleSchema>;

const settleDefaults = { timeout: 60_000, poll_interval: 1_000, confirm_reads: 1 };

export const serviceSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'service ids are ASCII letters, digits, _ . : - (they become metric labels)').max(64),
  name: z.string().min(1).optional(),
  platform: z.string().optional(),
  app_id: z.string().default(''),
  business_id: z.string().default(''),
  /** Free values for templates (params.X); put credentials here as ${ENV_VAR}. */
  params: stringMap.default({}),
  metering: z
    .strictObject({
      /** `exact`: delta == expected. `at_least`: other traffic shares this app id, so delta >= expected. */
      mode: z.enum(['exact', 'at_least']).default('exact'),
      settle: settleSchema.partial().default({}),
    })
    .default({ mode: 'exact', settle: {} }),
  calls: z.array(callSchema).min(1, 'a service needs at least one call'),
  auth_checks: z.array(authCheckSchema).default([]),
  enabled: z.boolean().default(true),
});
export type ServiceConfig = z.infer<typeof serviceSchema>;

export const globalSchema = z.strictObject({
  /** Cron (5 fields, or 6 with seconds first) in `timezone`. */
  schedule: cronExpression.default('*/5 * * * *'),
  timezone: timezone.default('Asia/Shanghai'),
  run_on_start: z.boolean().default(true),
  /** Requests in flight at once across services (waiting for metering does not hold a slot). */
  concurrency: z.number().int().min(1).max(10_000).default(8),
  round_timeout: duration.default(240_000),
  call_timeout: duration.default(15_000),
  /** Reuse connections between calls (like a real SDK client) or open one per call (like blackbox). */
  keep_alive: z.boolean().default(true),
  max_body_bytes: z.number().int().positive().default(1_048_576),
  settle: settleSchema.default(settleDefaults),
});
export type GlobalConfig = z.infer<typeof globalSchema>;

// History, the daily digest, mail delivery and the protection of the web endpoints
// (docs/history-and-digest.md). Defaults are written once, in the schemas (prefault parses `{}`).
const cronExpr = z.string().refine((s) => validateCron(s), { message: 'invalid cron expression (5 fields, or 6 with seconds first)' });

export const storageSchema = z.strictObject({
  /** SQLite file; a relative path starts in the working directory. ":memory:" keeps nothing (tests only). */
  path: z.string().min(1).default('patrol.db'),
  /** Rounds that started longer ago than this are deleted. */
  retention: duration.refine((ms) => ms >= 3_600_000, { message: 'retention must be at least 1h' }).default(30 * 86_400_000),
  /** When history is pruned and undelivered digests are retried (cron, in global.timezone). */
  maintenance_schedule: cronExpr.default('17 * * * *'),
});
export type StorageConfig = z.infer<typeof storageSchema>;

export const digestSchema = z.strictObject({
  /** Send the digest on `schedule` (needs the smtp section). */
  enabled: z.boolean().default(true),
  /** Cron in global.timezone. */
  schedule: cronExpr.default('0 9 * * *'),
  /** Which day a scheduled digest reports: the day before the schedule fired, or the same day. */
  day: z.enum(['previous', 'current']).default('previous'),
  locale: z.enum(['zh', 'en']).default('zh'),
  /** Subject template; {{date}} is the reported day (YYYY-MM-DD). */
  subject: z
    .string()
    .min(1)
    .refine((s) => [...s.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].every((m) => m[1] === 'date'), { message: 'the subject can only use {{date}}' })
    .default('开放平台服务调用巡检报告 {{date}}'),
  /** Delivery attempts per send, waiting backoff, 2x backoff, ... (at most max_backoff) between them. */
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(20).default(5),
      backoff: duration.default(30_000),
      max_backoff: duration.default(600_000),
    })
    .prefault({}),
});
export type DigestConfig = z.infer<typeof digestSchema>;

export const smtpSchema = z
  .strictObject({
    host: z.string().min(1),
    /** Default: 465 for implicit TLS, 587 for STARTTLS, 25 without TLS. */
    port: z.number().int().min(1).max(65535).optional(),
    /** implicit: TLS from the first byte (SMTPS); starttls: upgrade is required; none: plain text. */
    tls: z.enum(['implicit', 'starttls', 'none']).default('starttls'),
    insecure_skip_verify: z.boolean().default(false),
    /** Put credentials here as ${ENV_VAR}; an empty value means no authentication. */
    username: z.string().default(''),
    password: z.string().default(''),
    from: z.string().min(1),
    to: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    cc: z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (Array.isArray(v) ? v : [v])).default([]),
    timeout: duration.default(30_000),
  })
  .refine((s) => (s.username === '') === (s.password === ''), { message: 'give both username and password, or neither' });
export type SmtpConfig = z.infer<typeof smtpSchema>;

export const webSchema = z.strictObject({
  /** Protects every endpoint but /-/healthy when either is set (empty means not set). */
  auth: z
    .strictObject({
      bearer_token: z.string().default(''),
      basic: z.strictObject({ username: z.string().min(1), password: z.string().min(1) }).optional(),
    })
    .prefault({}),
  /** `same`: /metrics needs the same credentials; `none`: /metrics stays open. */
  metrics_auth: z.enum(['same', 'none']).default('same'),
});
export type WebConfig = z.infer<typeof webSchema>;

export const configSchema = z.strictObject({
  global: globalSchema.default({
    schedule: '*/5 * * * *',
    timezone: 'Asia/Shanghai',
    run_on_start: true,
    concurrency: 8,
    round_timeout: 240_000,
    call_timeout: 15_000,
    keep_alive: true,
    max_body_bytes: 1_048_576,
    settle: settleDefaults,
  }),
  /** Plain values for templates (vars.X): base URLs and the like. Not treated as secrets. */
  vars: stringMap.default({}),
  platforms: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'platform names are ASCII letters, digits, _ . -'), platformSchema),
  services: z.array(serviceSchema).min(1, 'configure at least one service'),
  storage: storageSchema.prefault({}),
  digest: digestSchema.prefault({}),
  /** Mail delivery; without it no digest is sent (`patrol digest --out` still works). */
  smtp: smtpSchema.optional(),
  web: webSchema.prefault({}),
});
export type Config = z.infer<typeof configSchema>;
