// Running a configured call or auth check: by its kind's module, found in the registry.
import type { AuthCheckConfig, CallConfig } from '../config/schema.js';
import type { AuthCheckResult, CallResult } from '../types.js';
import { kindNamed, kindOf, type CallKind } from './registry.js';
import type { ProbeContext } from './types.js';

export function runCall(call: CallConfig, ctx: ProbeContext): Promise<CallResult> {
  const kind = kindOf(call);
  if (!kind) throw new Error(`call ${call.name}: no kind (the schema should have refused it)`);
  return kindNamed(kind).call(call, ctx);
}

export function runAuthCheck(check: AuthCheckConfig, ctx: ProbeContext): Promise<AuthCheckResult> {
  // An auth check may stand in for another app id ({{app_id}} in its templates): the "unknown app id" check.
  if (check.app_id !== undefined) ctx = { ...ctx, vars: { ...ctx.vars, app_id: check.app_id } };
  const kind = kindOf(check);
  if (!kind) throw new Error(`auth check ${check.name}: no kind (the schema should have refused it)`);
  return kindNamed(kind).authCheck(check, ctx);
}

export function callKind(call: CallConfig | AuthCheckConfig): CallKind {
  return kindOf(call) ?? 'http';
}
