// Picks the probe for a call by its kind. Every probe has the same signature (probes/types.ts).
import type { AuthCheckConfig, CallConfig } from '../config/schema.js';
import type { AuthCheckResult, CallResult } from '../types.js';
import { httpAuthCheck, httpCall } from './http.js';
import { scriptAuthCheck, scriptCall } from './script.js';
import { websocketAuthCheck, websocketCall } from './websocket.js';
import type { ProbeContext } from './types.js';

export function runCall(call: CallConfig, ctx: ProbeContext): Promise<CallResult> {
  if (call.http) return httpCall(call, ctx);
  if (call.websocket) return websocketCall(call, ctx);
  if (call.script) return scriptCall(call, ctx);
  throw new Error(`call ${call.name}: no kind (the schema should have refused it)`);
}

export function runAuthCheck(check: AuthCheckConfig, ctx: ProbeContext): Promise<AuthCheckResult> {
  // An auth check may stand in for another app id ({{app_id}} in its templates): the "unknown app id" check.
  if (check.app_id !== undefined) ctx = { ...ctx, vars: { ...ctx.vars, app_id: check.app_id } };
  if (check.http) return httpAuthCheck(check, ctx);
  if (check.websocket) return websocketAuthCheck(check, ctx);
  if (check.script) return scriptAuthCheck(check, ctx);
  throw new Error(`auth check ${check.name}: no kind (the schema should have refused it)`);
}

export function callKind(call: CallConfig | AuthCheckConfig): CallResult['kind'] {
  if (call.websocket) return 'websocket';
  if (call.script) return 'script';
  return 'http';
}
