// A platform's console: log in, keep the session, read usage counters. A failed read is a result
// with a reason ("count query failed"), never an exception and never a made-up 0.
import type { Logger } from 'pino';
import type { PlatformConfig } from '../config/schema.js';
import { buildHttpRequest, type RequestDefaults } from '../http/build.js';
import type { HttpClient, HttpOutcome } from '../http/client.js';
import { answerMessage, describeFailures, evaluate, jsonHolds, notJson, parseJson, statusMatches, withMessage } from '../expect.js';
import { lookup } from '../jsonpath.js';
import type { Redactor } from '../redact.js';
import { render as renderTemplate, type TemplateContext } from '../template.js';
import type { CounterReading } from '../types.js';
import { dayIn } from '../util/time.js';

export interface SessionDeps {
  http: HttpClient;
  redactor: Redactor;
  defaults: RequestDefaults;
  logger: Logger;
  vars: Record<string, string>;
}

type Session = { values: Record<string, string>; at: number };

/**
 * What a caller adds to the console requests a read makes: the W3C trace context of its span
 * (engine/inspector.ts), and a span of its own around a login. Optional: without it no header is added.
 */
export interface RequestTrace {
  /** Headers for the counter request (traceparent). */
  headers: Record<string, string>;
  /** Runs a login inside a span; `run` gets the headers for the login request. */
  login<T>(run: (headers: Record<string, string>) => Promise<T>): Promise<T>;
}

type Answer = Extract<HttpOutcome, { ok: true }>;

function cookieValue(headers: Answer['headers'], name: string): string | undefined {
  const raw = headers['set-cookie'];
  for (const line of Array.isArray(raw) ? raw : raw ? [raw] : []) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

export class PlatformSession {
  private session: Session | null = null;
  private pending: Promise<Session | string> | null = null;
  /** The sessions whose values the redactor keeps: the current one and the one before it. */
  private kept: Session[] = [];
  logins = 0;

  constructor(
    readonly name: string,
    private readonly cfg: PlatformConfig,
    private readonly deps: SessionDeps,
  ) {}

  get timezone(): string {
    return this.cfg.timezone;
  }

  /** Log in once even when many services ask at the same moment. */
  private login(signal: AbortSignal, trace?: RequestTrace): Promise<Session | string> {
    this.pending ??= (trace ? trace.login((headers) => this.doLogin(signal, headers)) : this.doLogin(signal, {})).finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async doLogin(signal: AbortSignal, traceHeaders: Record<string, string>): Promise<Session | string> {
    const { redactor } = this.deps;
    this.logins++;
    let spec;
    try {
      spec = buildHttpRequest(this.cfg.login.http, { vars: this.deps.vars }, this.deps.defaults);
    } catch (err) {
      return `login: ${(err as Error).message}`;
    }
    spec.headers = { ...spec.headers, ...traceHeaders };
    const res = await this.deps.http.send(spec, signal);
    if (!res.ok) return `login failed: ${redactor.redact(res.reason)}`;
    const expect = { ...this.cfg.login.expect, status: this.cfg.login.expect.status ?? ['2xx'] };
    const unmet = evaluate(expect, { status: res.status, body: res.body, durationMs: res.durationMs }, this.redact);
    const doc = parseJson(res.body);
    if (unmet.length > 0) return `login failed: ${redactor.redact(withMessage(describeFailures(unmet), this.message(doc, expect.message_path)))}`;
    const values: Record<string, string> = {};
    for (const [name, from] of Object.entries(this.cfg.login.extract)) {
      let value: unknown;
      if (from.startsWith('cookie:')) value = cookieValue(res.headers, from.slice(7));
      else if (doc.ok) {
        const found = lookup(doc.value, from);
        value = found.found ? found.value : undefined;
      }
      if (value === undefined || value === null || value === '' || typeof value === 'object') {
        // A platform that answers a refused login with 200 often says why in the body.
        return `login failed: ${withMessage(`no session value "${name}" at ${from} in the answer (status ${res.status})`, this.message(doc, expect.message_path))}`;
      }
      values[name] = String(value);
    }
    const session = { values, at: Date.now() };
    this.remember(session);
    this.deps.logger.debug({ platform: this.name }, 'logged in');
    return session;
  }

  /**
   * Session values are credentials: never shown anywhere. The redactor keeps those of the new session
   * and of the one before it (requests sent with it may still be answering); older ones are
   * forgotten, so a long-running exporter does not collect every token it ever had.
   */
  private remember(session: Session): void {
    const { redactor } = this.deps;
    for (const v of Object.values(session.values)) redactor.learn(v);
    this.kept.push(session);
    while (this.kept.length > 2) {
      const old = this.kept.shift()!;
      // A platform may hand out the same value again: it stays while a kept session has it.
      const live = new Set(this.kept.flatMap((k) => Object.values(k.values)));
      for (const v of Object.values(old.values)) if (!live.has(v)) redactor.forget(v);
    }
  }

  private readonly redact = (text: string): string => this.deps.redactor.redact(text);

  /** The answer's own words (expect.message_path), redacted and short. */
  private message(doc: ReturnType<typeof parseJson>, path: string | undefined): string | undefined {
    return doc.ok ? answerMessage(doc.value, path, this.redact) : undefined;
  }

  private async session_(signal: AbortSignal, fresh: boolean, trace?: RequestTrace): Promise<Session | string> {
    const s = this.session;
    if (!fresh && s && Date.now() - s.at < this.cfg.session.max_age) return s;
    const got = await this.login(signal, trace);
    if (typeof got !== 'string') this.session = got;
    return got;
  }

  private isNotLoggedIn(res: Answer): boolean {
    const nl = this.cfg.not_logged_in;
    if (statusMatches(res.status, nl.status ?? [401, 403])) return true;
    if (nl.json.length > 0) {
      const doc = parseJson(res.body);
      if (doc.ok && jsonHolds(doc.value, nl.json)) return true;
    }
    return nl.body_regex !== undefined && new RegExp(nl.body_regex).test(res.body);
  }

  /** Read today's count for one service (its templating context gives app_id and the like). */
  async readCounter(ctx: TemplateContext, signal: AbortSignal, trace?: RequestTrace): Promise<CounterReading> {
    const { redactor } = this.deps;
    const fail = (reason: string): CounterReading => ({ ok: false, reason: redactor.redact(reason), at: Date.now() });
    for (let attempt = 0; attempt < 2; attempt++) {
      const session = await this.session_(signal, attempt > 0, trace);
      if (typeof session === 'string') return fail(session);
      let spec;
      try {
        const full = { ...ctx, vars: this.deps.vars, session: session.values };
        spec = buildHttpRequest(this.cfg.counter.http, full, this.deps.defaults, {
          headers: this.cfg.session.headers,
          query: this.cfg.session.query,
        });
      } catch (err) {
        return fail(`counter request: ${(err as Error).message}`);
      }
      if (trace) spec.headers = { ...spec.headers, ...trace.headers };
      const res = await this.deps.http.send(spec, signal);
      if (!res.ok) return fail(`counter read failed: ${res.reason}`);
      if (this.isNotLoggedIn(res)) {
        this.session = null;
        if (attempt === 0) {
          this.deps.logger.info({ platform: this.name }, 'session expired; logging in again');
          continue;
        }
        return fail(`still not logged in after logging in again (status ${res.status}: ${redactor.excerpt(res.body, 120)})`);
      }
      const expect = { ...this.cfg.counter.expect, status: this.cfg.counter.expect.status ?? ['2xx'] };
      const unmet = evaluate(expect, { status: res.status, body: res.body, durationMs: res.durationMs }, this.redact);
      const doc = parseJson(res.body);
      if (unmet.length > 0) return fail(`counter read failed: ${withMessage(describeFailures(unmet), this.message(doc, expect.message_path))}`);
      if (!doc.ok) return fail(`counter read failed: expected JSON, got ${notJson(doc.got, res.body, this.redact)} (status ${res.status})`);
      const found = lookup(doc.value, this.cfg.counter.value);
      if (!found.found) {
        const message = this.message(doc, expect.message_path);
        return fail(`counter read failed: ${message === undefined ? `no value at ${this.cfg.counter.value}: ${redactor.excerpt(res.body, 200)}` : withMessage(`no value at ${this.cfg.counter.value}`, message)}`);
      }
      const v = found.value;
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || n < 0) {
        return fail(`counter read failed: value at ${this.cfg.counter.value} is ${redactor.excerpt(JSON.stringify(v) ?? String(v), 60)}, not a whole number`);
      }
      const at = Date.now();
      return { ok: true, value: n, at, day: dayIn(this.cfg.timezone, at) };
    }
    return fail('unreachable');
  }

  /**
   * The session as it rides on a request (session.headers and session.query rendered), logging in
   * when needed: for calls signed with `sign: { type: session }`. A string is why it could not.
   */
  async credentials(ctx: TemplateContext, signal: AbortSignal, trace?: RequestTrace): Promise<{ headers: Record<string, string>; query: Record<string, string> } | string> {
    const session = await this.session_(signal, false, trace);
    if (typeof session === 'string') return this.deps.redactor.redact(session);
    try {
      const full = { ...ctx, vars: this.deps.vars, session: session.values };
      const render = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, renderTemplate(v, full)]));
      return { headers: render(this.cfg.session.headers), query: render(this.cfg.session.query) };
    } catch (err) {
      return `session: ${(err as Error).message}`;
    }
  }

  /** Identity of the counter a service reads: services with the same one must not be judged at once. */
  counterKey(ctx: TemplateContext): string {
    try {
      // Session values are left blank: they change, the counter they point at does not.
      const session = Object.fromEntries(Object.keys(this.cfg.login.extract).map((k) => [k, '']));
      const spec = buildHttpRequest(this.cfg.counter.http, { ...ctx, vars: this.deps.vars, session }, this.deps.defaults);
      return `${this.name} ${spec.method} ${spec.url} ${spec.body ?? ''}`;
    } catch {
      return `${this.name} ${String(ctx.service_id)}`;
    }
  }
}
