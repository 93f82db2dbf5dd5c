// The registry of call kinds: each kind is one module exporting its probe (probes/types.ts), named
// here once. A Record over the call kinds, so a kind without a probe does not compile. (Each kind's
// load-time rules are in config/kinds.ts.)
import { kindOf, type AuthCheckConfig, type CallConfig } from '../config/schema.js';
import type { AuthCheckResult, CallKind, CallResult } from '../types.js';
import { httpProbe } from './http.js';
import { scriptProbe } from './script.js';
import { websocketProbe } from './websocket.js';
import type { Probe, ProbeContext } from './types.js';

export const PROBES: Record<CallKind, Probe> = {
  http: httpProbe,
  websocket: websocketProbe,
  script: scriptProbe,
};

export function runCall(call: CallConfig, ctx: ProbeContext): Promise<CallResult> {
  const kind = kindOf(call);
  if (!kind) throw new Error(`call ${call.name}: no kind (the schema should have refused it)`);
  return PROBES[kind].call(call, ctx);
}

export function runAuthCheck(check: AuthCheckConfig, ctx: ProbeContext): Promise<AuthCheckResult> {
  // An auth check may stand in for another app id ({{app_id}} in its templates): the "unknown app id" check.
  if (check.app_id !== undefined) ctx = { ...ctx, vars: { ...ctx.vars, app_id: check.app_id } };
  const kind = kindOf(check);
  if (!kind) throw new Error(`auth check ${check.name}: no kind (the schema should have refused it)`);
  return PROBES[kind].authCheck(check, ctx);
}

export function callKind(call: CallConfig | AuthCheckConfig): CallKind {
  return kindOf(call) ?? 'http';
}
