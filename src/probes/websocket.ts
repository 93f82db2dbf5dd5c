// The WebSocket call kind: what its answer frames and refusals can be held to, its load-time rules,
// and the judging of a conversation. The conversation itself (connect, send, collect the answer
// frames) is websocket-transport.ts: its Transcript is all that is judged here.
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { answerFields, CALL_MAX, doc, duration, jsonAssertion, refusalFields } from '../config/parts.js';
import { answerMessage, checkJson, describeFailures, evaluate, notJson, parseJson } from '../expect.js';
import type { AuthCheckResult, CallResult, FailedExpectation } from '../types.js';
import { extractValues, finishCall, startResult } from './finish.js';
import { defineKind, type Add, type KindCall, type KindCheck, type ProbeContext, type Steps } from './types.js';
import { converse, EXCERPT, FRAME_EXCERPT, websocketRequest, type Transcript, type WebsocketRequest } from './websocket-transport.js';

/** Expectations on the answer frames of a WebSocket call (each frame is parsed as JSON). */
export const frameExpectation = z
  .strictObject({
    each: z.array(jsonAssertion).prefault([]).meta(doc('Every answer frame meets these.', [{ path: 'code', equals: 0 }])),
    final: z.array(jsonAssertion).prefault([]).meta(doc('The last answer frame meets these.', [{ path: 'data.status', equals: 2 }])),
    any: z.array(jsonAssertion).prefault([]).meta(doc('At least one answer frame meets all of these.', [{ path: 'data.result', exists: true }])),
    min: z.number().int().min(0).default(1).meta(doc('At least this many answer frames.')),
    max_first_frame: duration({ max: CALL_MAX }).optional().meta(doc('Time from connecting to the first answer frame.', '3s')),
  })
  .meta({ id: 'FrameExpectation', ...doc('What the answer frames of a WebSocket call must meet (each frame is parsed as JSON).') });

const websocketExpectation = z
  .strictObject({
    frames: frameExpectation.optional().meta(doc('The answer frames.')),
    max_duration: answerFields.max_duration,
    message_path: answerFields.message_path,
  })
  .meta({ id: 'WebsocketExpectation', ...doc('What makes a WebSocket call a success: its answer frames and its duration.') });
const websocketRejection = z
  .strictObject({
    ...refusalFields,
    first_frame: z.array(jsonAssertion).optional().meta(doc('The handshake was accepted and the first answer frame meets these.', [{ path: 'code', equals: 10313 }])),
  })
  .meta({ id: 'WebsocketRejection', ...doc('What counts as refusing the bad credential: a refused handshake (status, json, body_regex on its answer; status 401 or 403 when not given), or an accepted one whose first answer frame meets first_frame.') });
export type WebsocketCall = KindCall<'websocket', WebsocketRequest, z.output<typeof websocketExpectation>>;
export type WebsocketCheck = KindCheck<'websocket', WebsocketRequest, z.output<typeof websocketRejection>>;

function framesExcerpt(t: Transcript, ctx: ProbeContext): string {
  if (!t.opened) {
    return ctx.redactor.excerpt(`HTTP ${t.status ?? '-'} (handshake refused)\n${t.refusalBody ?? ''}`, EXCERPT);
  }
  const lines = t.frames.map((f, i) => `#${i + 1} +${(f.atMs / 1000).toFixed(3)}s ${ctx.redactor.excerpt(f.text, FRAME_EXCERPT)}`);
  if (t.closeCode !== undefined) lines.push(`closed by the ${t.closedBy} (code ${t.closeCode}${t.closeReason ? ` ${t.closeReason}` : ''})`);
  return ctx.redactor.excerpt(lines.join('\n'), EXCERPT);
}

/** Why the server's close came too early, or null when it was a normal end. */
function earlyClose(t: Transcript, spec: WebsocketRequest, ctx: ProbeContext): string | null {
  if (t.closedBy !== 'server') return null;
  const how = `the server closed the connection (code ${t.closeCode}${t.closeReason ? ` "${ctx.redactor.excerpt(t.closeReason, 80)}"` : ''}) after ${t.frames.length} answer frame${t.frames.length === 1 ? '' : 's'}`;
  if (t.stepsSent < t.stepsTotal) return `${how}, with ${t.stepsSent} of ${t.stepsTotal} send steps done`;
  if (spec.until.length > 0 && !t.untilMet) return `${how}, before a frame met until`;
  // 1000 normal, 1005 no status given: both are an orderly end.
  if (t.closeCode !== 1000 && t.closeCode !== 1005) return `${how}, abnormally`;
  return null;
}

/** A call's conversation held to its expectations: no network here, only the transcript. */
export function judgeCall(call: WebsocketCall, t: Transcript, ctx: ProbeContext): CallResult {
  const redact = (t: string) => ctx.redactor.redact(t);
  const spec = call.websocket;
  const result = startResult(call.name, 'websocket', { durationSeconds: t.durationMs / 1000, status: t.status, requestExcerpt: t.requestExcerpt || undefined });
  if (t.firstFrameMs !== undefined) result.firstFrameSeconds = t.firstFrameMs / 1000;
  if (t.url !== '') result.responseExcerpt = framesExcerpt(t, ctx);
  if (t.error) {
    result.reason = ctx.redactor.redact(t.error);
    return result;
  }
  if (!t.opened) {
    result.reason = `handshake refused: HTTP ${t.status ?? '-'} ${ctx.redactor.excerpt((t.refusalBody ?? '').trim(), 200)}`.trim();
    return result;
  }

  const failures: FailedExpectation[] = [];
  const early = earlyClose(t, spec, ctx);
  if (early) failures.push({ check: 'close', expected: 'the conversation to finish', actual: early });
  const fx = call.expect.frames ?? { each: [], final: [], any: [], min: 1 };
  if (t.frames.length < fx.min) failures.push({ check: 'frames', expected: `at least ${fx.min} answer frame${fx.min === 1 ? '' : 's'}`, actual: String(t.frames.length) });
  const docs = t.frames.map((f) => parseJson(f.text));
  docs.forEach((doc, i) => {
    if (fx.each.length === 0) return;
    if (!doc.ok) failures.push({ check: `frame #${i + 1}`, expected: 'a JSON frame', actual: notJson(doc.got, t.frames[i].text, redact) });
    else failures.push(...checkJson(doc.value, fx.each, redact, `frame #${i + 1}`));
  });
  const last = docs[docs.length - 1];
  if (fx.final.length > 0 && last) {
    if (!last.ok) failures.push({ check: 'final frame', expected: 'a JSON frame', actual: notJson(last.got, t.frames[t.frames.length - 1].text, redact) });
    else failures.push(...checkJson(last.value, fx.final, redact, 'final frame'));
  }
  if (fx.any.length > 0 && !docs.some((d) => d.ok && checkJson(d.value, fx.any, redact).length === 0)) {
    failures.push({ check: 'any frame', expected: `one frame meeting ${fx.any.map((a) => a.path).join(', ')}`, actual: 'none did' });
  }
  if (fx.max_first_frame !== undefined && t.firstFrameMs !== undefined && t.firstFrameMs > fx.max_first_frame) {
    failures.push({ check: 'first frame', expected: `<= ${fx.max_first_frame}ms`, actual: `${Math.round(t.firstFrameMs)}ms` });
  }
  failures.push(...evaluate({ max_duration: call.expect.max_duration }, { body: '', durationMs: t.durationMs }, redact));

  result.extracted = extractValues(last?.ok ? last : null, call.extract, ' in the final frame', failures);
  // The answer's own words: from the last frame that has them (an error frame usually ends the talk).
  const message = docs.map((d) => (d.ok ? answerMessage(d.value, call.expect.message_path, redact) : undefined)).reverse().find((m) => m !== undefined);
  return finishCall(result, failures, call.units, ctx, message);
}

export const websocketCall = async (call: WebsocketCall, ctx: ProbeContext): Promise<CallResult> => judgeCall(call, await converse(call.websocket, call.sign, ctx), ctx);

/** An auth check's conversation held to its rejected_when: refused, accepted, or could not tell. */
export function judgeCheck(check: WebsocketCheck, t: Transcript, ctx: ProbeContext): AuthCheckResult {
  const redact = (t: string) => ctx.redactor.redact(t);
  const base = { name: check.name, durationSeconds: t.durationMs / 1000, status: t.status, responseExcerpt: t.url !== '' ? framesExcerpt(t, ctx) : undefined };
  const rw = check.rejected_when;
  if (!t.opened) {
    if (t.status === undefined) return { ...base, outcome: 'error', reason: `could not tell: ${ctx.redactor.redact(t.error ?? 'no answer')}` };
    const unmet = evaluate({ status: rw.status ?? [401, 403], json: rw.json, body_regex: rw.body_regex }, { status: t.status, body: t.refusalBody ?? '', durationMs: t.durationMs }, redact);
    if (unmet.length === 0) return { ...base, outcome: 'rejected', reason: '' };
    // A refused handshake never lets the caller in, so it is not an acceptance; but it is not the
    // refusal configured either, and someone should look.
    return { ...base, outcome: 'error', reason: `could not tell: handshake refused, but not as rejected_when says: ${ctx.redactor.redact(describeFailures(unmet))}` };
  }
  // The handshake was accepted: only a rejecting first answer frame saves it.
  const first = t.frames[0];
  if (rw.first_frame && rw.first_frame.length > 0) {
    if (first) {
      const doc = parseJson(first.text);
      const unmet = doc.ok ? checkJson(doc.value, rw.first_frame, redact, 'first frame') : [{ check: 'first frame', expected: 'a JSON frame', actual: notJson(doc.got, first.text, redact) }];
      if (unmet.length === 0) return { ...base, outcome: 'rejected', reason: '' };
      return { ...base, outcome: 'accepted', reason: `bad credential accepted: handshake 101, ${ctx.redactor.redact(describeFailures(unmet))}` };
    }
    return { ...base, outcome: 'error', reason: `could not tell: handshake accepted, then ${ctx.redactor.redact(t.error ?? `closed (code ${t.closeCode ?? '-'}) without an answer frame`)}` };
  }
  const said = first ? `; first answer frame: ${ctx.redactor.excerpt(first.text, 160)}` : '';
  return { ...base, outcome: 'accepted', reason: ctx.redactor.redact(`bad credential accepted: the handshake succeeded (101)${said}`) };
}

export const websocketAuthCheck = async (check: WebsocketCheck, ctx: ProbeContext): Promise<AuthCheckResult> => judgeCheck(check, await converse(check.websocket, check.sign, ctx), ctx);

const FRAMES_INSTEAD = 'judge the answer frames with expect.frames (each, final, any, min, max_first_frame)';

/** Payload files of streams, from the config file's folder, checked at load. */
function resolveFiles(spec: WebsocketRequest, steps: Steps, baseDir: string, add: Add): void {
  spec.send.forEach((step, i) => {
    if (!step.stream) return;
    const where = [...steps, 'send', i, 'stream', 'file'];
    step.stream.file = path.resolve(baseDir, step.stream.file);
    try {
      if (!statSync(step.stream.file).isFile()) add(where, `${step.stream.file} is not a file`);
    } catch (err) {
      add(where, `cannot read ${step.stream.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  });
}

export const websocket = defineKind('websocket', {
  request: websocketRequest,
  expect: websocketExpectation,
  rejectedWhen: websocketRejection,
  notForThisKind: { expect: { status: FRAMES_INSTEAD, json: FRAMES_INSTEAD, body_regex: FRAMES_INSTEAD, body_not_regex: FRAMES_INSTEAD, exit_code: FRAMES_INSTEAD } },
  // The current payload chunk: empty outside a stream's frames.
  templateNames: ['chunk'],
  resolveFiles,
  call: websocketCall,
  authCheck: websocketAuthCheck,
});
