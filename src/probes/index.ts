// Running a configured call or auth check: by its kind's module, found in the registry.
import type { AuthCheckConfig, CallConfig } from '../config/schema.js';
import type { AuthCheckResult, CallResult } from '../types.js';
import { KINDS, kindOf, type CallKind } from './registry.js';
import type { ProbeContext } from './types.js';

// A kind's call and authCheck take that kind's own calls; kindOf picked the kind from the very
// key its type is keyed by, so the call given is that kind's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = (c: any, ctx: ProbeContext) => Promise<any>;

export function runCall(call: CallConfig, ctx: ProbeContext): Promise<CallResult> {
  const kind = kindOf(call);
  if (!kind) throw new Error(`call ${call.name}: no kind (the schema should have refused it)`);
  return (KINDS[kind].call as Loose)(call, ctx);
}

export function runAuthCheck(check: AuthCheckConfig, ctx: ProbeContext): Promise<AuthCheckResult> {
  // An auth check may stand in for another app id ({{app_id}} in its templates): the "unknown app id" check.
  if (check.app_id !== undefined) ctx = { ...ctx, vars: { ...ctx.vars, app_id: check.app_id } };
  const kind = kindOf(check);
  if (!kind) throw new Error(`auth check ${check.name}: no kind (the schema should have refused it)`);
  return (KINDS[kind].authCheck as Loose)(check, ctx);
}

export function callKind(call: CallConfig | AuthCheckConfig): CallKind {
  return kindOf(call) ?? 'http';
}
