// The HTTP call kind: its request, the conditions its answers and refusals can be held to, and how
// its calls and auth checks are made and judged.
import { z } from 'zod';
import { doc, httpExpectation, httpRequest, refusalFields, type HttpExpectation, type HttpRequest } from '../config/parts.js';
import { buildHttpRequest } from '../http/build.js';
import type { HttpRequestSpec } from '../http/client.js';
import { describeFailures, evaluate } from '../expect.js';
import { finishCall, readAnswer, startResult } from './finish.js';
import { defineKind, type KindCall, type KindCheck, type ProbeContext } from './types.js';
import type { AuthCheckResult, CallResult, FailedExpectation } from '../types.js';
import { applySigner, redactUrl } from '../signers.js';
import type { SignConfig } from '../config/parts.js';

const httpRejection = z
  .strictObject(refusalFields)
  .meta({ id: 'HttpRejection', ...doc('What counts as an HTTP refusal of the bad credential. Every condition given must hold; none given: status 401 or 403.') });
type HttpRejection = z.output<typeof httpRejection>;
export type HttpCall = KindCall<'http', HttpRequest, HttpExpectation>;
export type HttpCheck = KindCheck<'http', HttpRequest, HttpRejection>;

/** A rejected_when that says nothing means the usual refusal: 401 or 403. */
const USUAL_REFUSAL = [401, 403];

const EXCERPT = 2000;

function requestExcerpt(spec: HttpRequestSpec, ctx: ProbeContext): string {
  const headers = ctx.redactor.headers(spec.headers);
  const head = `${spec.method} ${ctx.redactor.redact(redactUrl(spec.url))}\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n')}`;
  const body = spec.body === undefined ? '' : `\n\n${ctx.redactor.excerpt(spec.body.toString(), EXCERPT)}`;
  return head + body;
}

/** Build the request (signed when the call says so), or say why it could not be built. */
async function build(http: HttpRequest, ctx: ProbeContext, sign?: SignConfig): Promise<HttpRequestSpec | string> {
  const spec = await buildSigned(http, ctx, sign);
  // The trace context goes on last: no signature covers it.
  return typeof spec === 'string' || !ctx.traceparent ? spec : { ...spec, headers: { ...spec.headers, traceparent: ctx.traceparent } };
}

async function buildSigned(http: HttpRequest, ctx: ProbeContext, sign?: SignConfig): Promise<HttpRequestSpec | string> {
  let spec: HttpRequestSpec;
  try {
    spec = buildHttpRequest(http, ctx.vars, ctx.defaults);
  } catch (err) {
    return ctx.redactor.redact((err as Error).message);
  }
  if (!sign) return spec;
  const target = { method: spec.method, url: new URL(spec.url), headers: spec.headers };
  const failed = await applySigner(sign, target, { vars: ctx.vars, now: Date.now(), session: ctx.session });
  if (failed) return ctx.redactor.redact(failed);
  return { ...spec, url: target.url.toString(), headers: target.headers };
}

export const httpCall = async (call: HttpCall, ctx: ProbeContext): Promise<CallResult> => {
  const redact = (t: string) => ctx.redactor.redact(t);
  const result = startResult(call.name, 'http');
  const spec = await build(call.http!, ctx, call.sign);
  if (typeof spec === 'string') return { ...result, reason: spec };
  result.requestExcerpt = requestExcerpt(spec, ctx);

  const outcome = await ctx.http.send(spec, ctx.signal);
  result.durationSeconds = outcome.durationMs / 1000;
  result.status = outcome.status;
  if (!outcome.ok) {
    result.reason = ctx.redactor.redact(outcome.reason);
    return result;
  }
  result.responseExcerpt = ctx.redactor.excerpt(outcome.body, EXCERPT);
  const failures: FailedExpectation[] = evaluate(call.expect, { status: outcome.status, body: outcome.body, durationMs: outcome.durationMs }, redact);

  const { extracted, message } = readAnswer(outcome.body, call, '', failures, redact);
  result.extracted = extracted;
  return finishCall(result, failures, call.units, ctx, message);
};

export const httpAuthCheck = async (check: HttpCheck, ctx: ProbeContext): Promise<AuthCheckResult> => {
  const redact = (t: string) => ctx.redactor.redact(t);
  const spec = await build(check.http!, ctx, check.sign);
  if (typeof spec === 'string') return { name: check.name, outcome: 'error', durationSeconds: 0, reason: spec };
  const outcome = await ctx.http.send(spec, ctx.signal);
  const durationSeconds = outcome.durationMs / 1000;
  if (!outcome.ok) {
    return { name: check.name, outcome: 'error', durationSeconds, status: outcome.status, reason: `could not tell: ${ctx.redactor.redact(outcome.reason)}` };
  }
  const responseExcerpt = ctx.redactor.excerpt(outcome.body, EXCERPT);
  const rw = check.rejected_when;
  const saysNothing = rw.status === undefined && rw.json.length === 0 && rw.body_regex === undefined;
  const unmet = evaluate(saysNothing ? { ...rw, status: USUAL_REFUSAL } : rw, { status: outcome.status, body: outcome.body, durationMs: outcome.durationMs }, redact);
  if (unmet.length === 0) {
    return { name: check.name, outcome: 'rejected', durationSeconds, status: outcome.status, reason: '', responseExcerpt };
  }
  return {
    name: check.name,
    outcome: 'accepted',
    durationSeconds,
    status: outcome.status,
    reason: `bad credential accepted: ${ctx.redactor.redact(describeFailures(unmet))}`,
    responseExcerpt,
  };
};

export const http = defineKind('http', {
  request: httpRequest,
  expect: httpExpectation,
  rejectedWhen: httpRejection,
  call: httpCall,
  authCheck: httpAuthCheck,
});
