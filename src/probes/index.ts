// Picks the probe for a call by its kind. Every probe has the same signature (probes/types.ts).
import type { AuthCheckConfig, CallConfig } from '../config/schema.js';
import type { AuthCheckResult, CallResult } from '../types.js';
import { httpAuthCheck, httpCall } from './http.js';
import type { ProbeContext } from './types.js';

export function runCall(call: CallConfig, ctx: ProbeContext): Promise<CallResult> {
  if (call.http) return httpCall(call, ctx);
  throw new Error(`call ${call.name}: no kind (the schema should have refused it)`);
}

export function runAuthCheck(check: AuthCheckConfig, ctx: ProbeContext): Promise<AuthCheckResult> {
  if (check.http) return httpAuthCheck(check, ctx);
  throw new Error(`auth check ${check.name}: no kind (the schema should have refused it)`);
}

export function callKind(call: CallConfig | AuthCheckConfig): CallResult['kind'] {
  if (call.http) return 'http';
  return 'http';
}
