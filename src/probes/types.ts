// The one signature every probe kind shares: a configured call plus a context in, a result out.
// Probes never throw: a failure is a result with a reason.
import type { Logger } from 'pino';
import type { AuthCheckConfig, CallConfig } from '../config/schema.js';
import type { HttpClient } from '../http/client.js';
import type { RequestDefaults } from '../http/build.js';
import type { Redactor } from '../redact.js';
import type { TemplateContext } from '../template.js';
import type { AuthCheckResult, CallResult } from '../types.js';
import type { SessionCredentials } from '../signers.js';

export interface ProbeContext {
  /** Template values: service_id, app_id, params.X, vars.X, session.X, extracted.X. */
  vars: TemplateContext;
  /** The round's deadline (and shutdown). Each request adds its own timeout. */
  signal: AbortSignal;
  http: HttpClient;
  redactor: Redactor;
  defaults: RequestDefaults;
  logger: Logger;
  /** The platform's session credentials, for calls signed with `type: session` (logs in when needed). */
  session?: () => Promise<SessionCredentials | string>;
  /**
   * The W3C trace context of this call's span (docs/tracing.md): a `traceparent` header on its
   * requests and WebSocket handshake, TRACEPARENT in a script's environment. Added after signing.
   */
  traceparent?: string;
}

export type CallProbe<C> = (call: C, ctx: ProbeContext) => Promise<CallResult>;
export type AuthProbe<C> = (check: C, ctx: ProbeContext) => Promise<AuthCheckResult>;

/** One kind of call: how its calls are made and judged, and how its auth checks are. */
export interface Probe {
  call: CallProbe<CallConfig>;
  authCheck: AuthProbe<AuthCheckConfig>;
}
