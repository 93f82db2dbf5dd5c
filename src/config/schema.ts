// The one config schema: every key, its default, its check and its meaning. Unknown keys are
// rejected everywhere (a misspelt key silently ignored is a check silently not made). Checks that
// need the whole file (template names, references between parts) are in load.ts, which reports
// every problem with its path in the file. The descriptions here are the reference:
// `npm run gen:config-docs` turns them into schema/patrol.schema.json and docs/config.md.
import { z } from 'zod';
import { CALL_MAX, cronExpression, doc, duration, httpExpectation, httpRequest, jsonAssertion, jsonPath, regex, signSchema, statusList, stringMap } from './parts.js';
import { CALL_KINDS, KINDS, kindNamed, kindOf, type CallKind } from '../probes/registry.js';
import type { AnyKind } from '../probes/types.js';
import { maintenanceSchema } from './maintenance.js';
import { sloDefaultsSchema, sloOverrideSchema } from './slo.js';
import { tracingSchema } from './tracing.js';

// The shared field schemas are in parts.ts (below the call kinds, which build on them); the names
// other modules have always imported from here are passed on.
export { duration, httpRequest, jsonAssertion, jsonPath, regex, signSchema, statusList, tlsOptions, urlTemplate } from './parts.js';
export type { HttpRequest, JsonAssertion, SignConfig } from './parts.js';
export { kindOf } from '../probes/registry.js';

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

type Kinds = typeof KINDS;
/** A call as its kind reads it: its request under the kind's key, and that kind's `expect` keys only. */
export type CallConfig = { [K in CallKind]: Parameters<Kinds[K]['call']>[0] }[CallKind];
/** An auth check as its kind reads it: its request, and that kind's `rejected_when` keys only. */
export type AuthCheckConfig = { [K in CallKind]: Parameters<Kinds[K]['authCheck']>[0] }[CallKind];

const KIND_ENTRIES: [CallKind, AnyKind][] = CALL_KINDS.map((name) => [name, kindNamed(name)]);

/**
 * Every key any kind takes in `expect` (or `rejected_when`), in registry order, each saying which
 * kinds take it. The file is parsed against this merged form, and each call is then held to its own
 * kind's keys (kindProblems), so a key of another kind is reported with the kind's reason, together
 * with every other problem of the file (a schema-level union would stop at the first).
 */
function mergedShape(of: (k: AnyKind) => z.ZodObject, role: string): z.ZodRawShape {
  const shape: Record<string, z.ZodType> = {};
  const takers: Record<string, CallKind[]> = {};
  for (const [name, kind] of KIND_ENTRIES) {
    for (const [key, field] of Object.entries(of(kind).shape)) {
      // Kinds that share a key share its schema (from config/parts.ts): the file is parsed by one.
      // A programming error, caught by every test that loads the schema.
      if (shape[key] !== undefined && shape[key] !== field) throw new Error(`${role}: kinds ${takers[key].join(', ')} and ${name} define ${key} differently; take it from config/parts.ts`);
      shape[key] ??= field as z.ZodType;
      (takers[key] ??= []).push(name);
    }
  }
  for (const [key, kinds] of Object.entries(takers)) {
    if (kinds.length === CALL_KINDS.length) continue;
    const said = z.globalRegistry.get(shape[key])?.description ?? '';
    shape[key] = shape[key].meta({ description: `${kinds.join(' and ')} ${role} only. ${said}`.trim() });
  }
  return shape;
}

export const expectation = z
  .strictObject(mergedShape((k) => k.expect, 'calls'))
  .meta({ id: 'Expectation', ...doc("What makes a call a success: the keys its kind takes (each kind's own schema is in its module, src/probes/KIND.ts). Every condition given must hold.") });

/** What counts as "the bad credential was refused"; what nothing said means is the kind's. */
export const rejection = z
  .strictObject(mergedShape((k) => k.rejectedWhen, 'auth checks'))
  .meta({ id: 'Rejection', ...doc('What counts as "the bad credential was refused": the keys its kind takes. Every condition given must hold; an HTTP or WebSocket check that says nothing expects status 401 or 403.') });

/** Each kind's request, under its own key of a call and of an auth check, from the registry. */
const KIND_REQUESTS: z.ZodRawShape = Object.fromEntries(KIND_ENTRIES.map(([name, kind]) => [name, kind.request.optional()]));

const exactlyOneKind = {
  check: (c: Record<string, unknown>) => CALL_KINDS.filter((k) => c[k] !== undefined).length === 1,
  message: `give exactly one of ${CALL_KINDS.join(', ')}`,
};

/** A key is given when it is there; `json` (a list that defaults to empty) when it holds anything. */
const given = (value: unknown) => (Array.isArray(value) ? value.length > 0 : value !== undefined);

/**
 * Where a call or an auth check steps outside its kind: a key of `expect` / `rejected_when` that
 * only other kinds take, a signature on a kind that is never signed, a refusal its kind cannot tell.
 * Paths are relative to the call.
 */
export function kindProblems(c: Record<string, unknown>, role: 'call' | 'check'): { steps: (string | number)[]; message: string }[] {
  const name = kindOf(c);
  if (!name) return [];
  const kind = kindNamed(name);
  const out: { steps: (string | number)[]; message: string }[] = [];
  if (c.sign !== undefined && kind.unsigned) out.push({ steps: ['sign'], message: kind.unsigned });
  const key = role === 'call' ? 'expect' : 'rejected_when';
  const own = Object.keys((role === 'call' ? kind.expect : kind.rejectedWhen).shape);
  const said = (c[key] ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(said)) {
    if (own.includes(k) || !given(v)) continue;
    const takers = KIND_ENTRIES.filter(([, other]) => Object.hasOwn((role === 'call' ? other.expect : other.rejectedWhen).shape, k)).map(([n]) => n);
    const why = kind.notForThisKind?.[key]?.[k] ?? `only ${takers.join(' and ')} ${role === 'call' ? 'calls' : 'auth checks'} have ${key}.${k}`;
    out.push({ steps: [key, k], message: `not used by ${name} ${role === 'call' ? 'calls' : 'auth checks'}: ${why}` });
  }
  if (role === 'check') {
    const lacks = kind.rejectionLacks?.(said);
    if (lacks) out.push({ steps: ['rejected_when'], message: lacks });
  }
  return out;
}

/** Holds a call (or check) parsed alone to its kind, as load.ts holds those of a file. */
const ownKind = (role: 'call' | 'check') => (c: Record<string, unknown>, ctx: z.RefinementCtx) => {
  for (const p of kindProblems(c, role)) ctx.addIssue({ code: 'custom', message: p.message, path: p.steps });
};

// The file's calls are typed by their kind once load.ts has checked them with kindProblems.
const fileCall = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'call names are ASCII letters, digits, _ . : -').max(64).meta(doc('The call label of the call metrics: ASCII letters, digits, _ . : - (at most 64).', 'recognise')),
    ...KIND_REQUESTS,
    sign: signSchema.optional().meta(doc('How the call is signed (HTTP and WebSocket calls).')),
    expect: expectation.prefault({}).meta(doc('What makes the call a success.')),
    extract: z.record(z.string(), jsonPath).prefault({}).meta(doc('Values for later calls ({{extracted.NAME}}): name -> JSON path in the answer.', { sid: 'sid' })),
    units: z.number().int().min(0).default(1).meta(doc('Metered units a successful call adds to the counter.')),
  })
  .refine(exactlyOneKind.check, { message: exactlyOneKind.message })
  .meta({ id: 'Call', ...doc(`One billed call: exactly one of ${CALL_KINDS.join(', ')}.`) }) as unknown as z.ZodType<CallConfig, unknown>;

/** One call on its own (tests, tools): parsed and held to its kind. */
export const callSchema = (fileCall as unknown as z.ZodObject).superRefine(ownKind('call')) as unknown as z.ZodType<CallConfig, unknown>;

const fileAuthCheck = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'check names are ASCII letters, digits, _ . : -').max(64).meta(doc('The check label of the auth metrics: ASCII letters, digits, _ . : - (at most 64).', 'wrong_secret')),
    ...KIND_REQUESTS,
    sign: signSchema.optional().meta(doc('How the request is signed, usually with a wrong secret, key or date.')),
    app_id: z.string().min(1).optional().meta(doc("Use this app id instead of the service's ({{app_id}} in templates): the unknown-app-id check.", 'no-such-app')),
    rejected_when: rejection.prefault({}).meta(doc('What counts as refused (HTTP and WebSocket, when it says nothing: status 401 or 403).')),
  })
  .refine(exactlyOneKind.check, { message: exactlyOneKind.message })
  .meta({ id: 'AuthCheck', ...doc(`A request with a bad credential that must be refused (and must not be billed): exactly one of ${CALL_KINDS.join(', ')}.`) }) as unknown as z.ZodType<AuthCheckConfig, unknown>;

/** One auth check on its own: parsed and held to its kind. */
export const authCheckSchema = (fileAuthCheck as unknown as z.ZodObject).superRefine(ownKind('check')) as unknown as z.ZodType<AuthCheckConfig, unknown>;

/** A call of kind K on its own (tests, tools): parsed, held to its kind, typed as that kind's. */
export function parseCall<K extends CallKind>(kind: K, input: unknown): Extract<CallConfig, Record<K, unknown>> {
  const call = callSchema.parse(input);
  if (kindOf(call) !== kind) throw new Error(`not a ${kind} call`);
  return call as Extract<CallConfig, Record<K, unknown>>;
}

/** An auth check of kind K on its own, likewise. */
export function parseCheck<K extends CallKind>(kind: K, input: unknown): Extract<AuthCheckConfig, Record<K, unknown>> {
  const check = authCheckSchema.parse(input);
  if (kindOf(check) !== kind) throw new Error(`not a ${kind} auth check`);
  return check as Extract<AuthCheckConfig, Record<K, unknown>>;
}

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
    calls: z.array(fileCall).min(1, 'a service needs at least one call').meta(doc('The billed calls, made in order.')),
    auth_checks: z.array(fileAuthCheck).prefault([]).meta(doc('Requests with bad credentials that must be refused and not billed.')),
    enabled: z.boolean().default(true).meta(doc('false: skip this service in rounds.')),
    slo: sloOverrideSchema.optional(),
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
    slo: sloDefaultsSchema.prefault({}),
    tracing: tracingSchema.prefault({}),
  })
  .meta({ id: 'Global', ...doc('When rounds run and their limits.') });
export type GlobalConfig = z.infer<typeof globalSchema>;

// History, the daily digest, mail delivery and the protection of the web endpoints
// (docs/history-and-digest.md). Defaults are written once, in the schemas (prefault parses `{}`).

export const storageSchema = z
  .strictObject({
    path: z.string().min(1).default('patrol.db').meta(doc('The SQLite file; a relative path starts in the working directory. ":memory:" keeps nothing (tests only).', '/var/lib/patrol/patrol.db')),
    retention: duration({ min: '1h', max: '36500d', notATimer: true }).prefault('30d').meta(doc('Rounds that started longer ago than this are deleted.', '90d')),
    maintenance_schedule: cronExpression.default('17 * * * *').meta(doc('When history is pruned and undelivered digests are retried (cron, in global.timezone).')),
  })
  .meta({ id: 'Storage', ...doc('Round history.') });
export type StorageConfig = z.infer<typeof storageSchema>;

export const digestSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta(doc('Send the digest on schedule (needs the smtp section).')),
    schedule: cronExpression.default('0 9 * * *').meta(doc('When the digest is sent (cron, in global.timezone).', '30 8 * * 1-5')),
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
    maintenance: maintenanceSchema,
  })
  .meta({ title: 'patrol_exporter configuration', ...doc('The config file of patrol_exporter (patrol --config.file).') });
export type Config = z.infer<typeof configSchema>;
