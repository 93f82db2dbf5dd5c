// WebSocket calls and WebSocket auth checks: connect (headers, subprotocols, TLS verified unless the
// call says otherwise, optionally signed), send a scripted sequence of frames (JSON, text, a file
// streamed in chunks at a pace, pauses), collect the answer frames, and judge them with the same
// assertion language as HTTP. The conversation is recorded as a transcript first and judged
// afterwards, so a call and an auth check share every line of the network code.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { AuthCheckConfig, CallConfig, JsonAssertion, SignConfig, WebsocketRequest } from '../config/schema.js';
import { answerMessage, checkJson, describeFailures, evaluate, jsonHolds, notJson, parseJson } from '../expect.js';
import { describeNetworkError } from '../http/client.js';
import { applySigner, redactUrl } from '../signers.js';
import { render, renderDeep } from '../template.js';
import { sleep } from '../util/duration.js';
import type { FailedExpectation } from '../types.js';
import { extractValues, finishCall, startResult } from './finish.js';
import type { AuthProbe, CallProbe, Probe, ProbeContext } from './types.js';

const EXCERPT = 2000;
const FRAME_EXCERPT = 300;
/** Largest handshake refusal body kept (it is only shown and matched, never parsed further). */
const MAX_REFUSAL_BODY = 65_536;
/** After we send a close frame, how long to wait for the server's before dropping the socket. */
const CLOSE_WAIT_MS = 1000;
/** Stands for `{{chunk}}` while the frame templates are rendered once; replaced per chunk. Plain
 *  characters only, so JSON.stringify leaves it as it is. */
const CHUNK_MARK = '__patrol_chunk_9c41e7__';

export interface AnswerFrame {
  /** Milliseconds since the connection started. */
  atMs: number;
  text: string;
  binary: boolean;
}

/** What happened on the wire, before any judgement. */
export interface Transcript {
  /** The URL dialled, signed (show it through redactUrl). */
  url: string;
  /** 101 when the handshake was accepted, the refusal's status otherwise (absent: no HTTP answer). */
  status?: number;
  opened: boolean;
  /** The body of a refused handshake. */
  refusalBody?: string;
  frames: AnswerFrame[];
  firstFrameMs?: number;
  durationMs: number;
  /** Send steps completed (a stream counts as one step). */
  stepsSent: number;
  stepsTotal: number;
  untilMet: boolean;
  closedBy?: 'server' | 'client';
  closeCode?: number;
  closeReason?: string;
  /** Timeout, network error, a limit: the conversation could not complete. */
  error?: string;
  requestExcerpt: string;
}

type PreparedStep =
  | { kind: 'json'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'wait'; ms: number }
  | { kind: 'stream'; file: string; chunkBytes: number; intervalMs: number; first: string; middle: string; last?: string; maxChunks: number };

/** ws(s):// as it is, http(s):// mapped, so a config can derive the address from an HTTP base URL. */
function toWebSocketUrl(url: URL): string | null {
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return null;
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else return `unsupported URL scheme ${url.protocol} for a WebSocket call`;
  return null;
}

interface Prepared {
  url: URL;
  headers: Record<string, string>;
  steps: PreparedStep[];
}

/** Render every template once (a missing variable fails the call before anything is sent), then sign. */
async function prepare(spec: WebsocketRequest, sign: SignConfig | undefined, ctx: ProbeContext): Promise<Prepared | string> {
  let url: URL;
  const headers: Record<string, string> = {};
  const steps: PreparedStep[] = [];
  // `{{chunk}}` is empty outside a stream's frames.
  const vars = { ...ctx.vars, chunk: '' };
  try {
    url = new URL(render(spec.url, vars));
    const bad = toWebSocketUrl(url);
    if (bad) return bad;
    for (const [k, v] of Object.entries(spec.query)) url.searchParams.set(k, render(v, vars));
    for (const [k, v] of Object.entries(spec.headers)) headers[k.toLowerCase()] = render(v, vars);
    const frameVars = { ...ctx.vars, chunk: CHUNK_MARK };
    for (const step of spec.send) {
      if (step.json !== undefined) steps.push({ kind: 'json', text: JSON.stringify(renderDeep(step.json, vars)) });
      else if (step.text !== undefined) steps.push({ kind: 'text', text: render(step.text, vars) });
      else if (step.wait !== undefined) steps.push({ kind: 'wait', ms: step.wait });
      else if (step.stream !== undefined) {
        const s = step.stream;
        const middle = JSON.stringify(renderDeep(s.middle, frameVars));
        steps.push({
          kind: 'stream',
          file: s.file,
          chunkBytes: s.chunk_bytes,
          intervalMs: s.interval,
          first: s.first ? JSON.stringify(renderDeep(s.first, frameVars)) : middle,
          middle,
          last: s.last ? JSON.stringify(renderDeep(s.last, frameVars)) : undefined,
          maxChunks: s.max_chunks,
        });
      }
    }
  } catch (err) {
    return ctx.redactor.redact((err as Error).message);
  }
  if (sign) {
    const failed = await applySigner(sign, { method: 'GET', url, headers }, { vars: ctx.vars, now: Date.now(), session: ctx.session });
    if (failed) return ctx.redactor.redact(failed);
  }
  // The trace context goes on the handshake last: no signature covers it.
  if (ctx.traceparent) headers.traceparent = ctx.traceparent;
  return { url, headers, steps };
}

function describeSteps(steps: PreparedStep[], ctx: ProbeContext): string {
  return steps
    .map((s) => {
      switch (s.kind) {
        case 'json':
        case 'text':
          return `send ${s.kind} ${ctx.redactor.excerpt(s.text, FRAME_EXCERPT)}`;
        case 'wait':
          return `wait ${s.ms}ms`;
        case 'stream':
          return `stream ${path.basename(s.file)} in chunks of ${s.chunkBytes} bytes every ${s.intervalMs}ms: ${ctx.redactor.excerpt(s.middle.replace(CHUNK_MARK, '<chunk>'), FRAME_EXCERPT)}`;
      }
    })
    .join('\n');
}

/** Connect, send, collect: never throws, always ends within the timeout or when `signal` aborts. */
export async function converse(spec: WebsocketRequest, sign: SignConfig | undefined, ctx: ProbeContext): Promise<Transcript> {
  const timeoutMs = spec.timeout ?? ctx.defaults.timeoutMs;
  const prepared = await prepare(spec, sign, ctx);
  const empty: Transcript = { url: '', opened: false, frames: [], durationMs: 0, stepsSent: 0, stepsTotal: spec.send.length, untilMet: false, requestExcerpt: '' };
  if (typeof prepared === 'string') return { ...empty, error: prepared };
  const url = prepared.url.toString();
  const headerLines = Object.entries(ctx.redactor.headers(prepared.headers)).map(([k, v]) => `${k}: ${v}`);
  const t: Transcript = {
    ...empty,
    url,
    requestExcerpt: ctx.redactor.excerpt([`GET ${redactUrl(url)}`, ...headerLines, '', describeSteps(prepared.steps, ctx)].join('\n'), EXCERPT),
  };
  if (ctx.signal.aborted) return { ...t, error: `not run: ${abortReason(ctx.signal)}` };

  const started = performance.now();
  const elapsed = () => performance.now() - started;
  // One controller ends everything this call started: the sender's sleeps, the timers.
  const stop = new AbortController();
  const maxAnswerBytes = ctx.defaults.maxBodyBytes;
  let answerBytes = 0;

  let tls: { ca?: Buffer } = {};
  try {
    if (spec.tls?.ca_file) tls = { ca: readFileSync(spec.tls.ca_file) };
  } catch (err) {
    return { ...t, error: `cannot read tls.ca_file: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }

  return new Promise<Transcript>((resolve) => {
    let finished = false;
    let closeTimer: NodeJS.Timeout | undefined;
    const ws = new WebSocket(url, spec.subprotocols, {
      headers: prepared.headers,
      handshakeTimeout: timeoutMs,
      maxPayload: spec.max_frame_bytes,
      perMessageDeflate: false,
      followRedirects: false,
      rejectUnauthorized: !spec.tls?.insecure_skip_verify,
      ...(spec.tls?.server_name ? { servername: spec.tls.server_name } : {}),
      ...tls,
    });

    const finish = (error?: string) => {
      if (finished) return;
      finished = true;
      if (error && !t.error) t.error = error;
      t.durationMs = elapsed();
      clearTimeout(timer);
      clearTimeout(closeTimer);
      ctx.signal.removeEventListener('abort', onAbort);
      stop.abort();
      // Whatever state the socket is in, nothing of it outlives the call.
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      resolve(t);
    };
    /** We are done listening: close politely, but never wait long for the server's close frame. */
    const closeNormally = () => {
      if (ws.readyState !== WebSocket.OPEN) return finish();
      t.closedBy ??= 'client';
      ws.close(1000);
      closeTimer = setTimeout(() => finish(), CLOSE_WAIT_MS);
    };

    const timer = setTimeout(() => finish(`timeout after ${timeoutMs}ms (${progress(t)})`), timeoutMs);
    const onAbort = () => finish(`aborted: ${abortReason(ctx.signal)} (${progress(t)})`);
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    ws.on('unexpected-response', (req, res) => {
      t.status = res.statusCode;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        t.refusalBody = Buffer.concat(chunks).toString('utf8');
        req.destroy();
        finish();
      };
      res.on('data', (c: Buffer) => {
        if (size >= MAX_REFUSAL_BODY) return;
        size += c.length;
        chunks.push(c);
      });
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', done);
    });
    ws.on('open', () => {
      t.opened = true;
      t.status = 101;
      void sendAll(ws, prepared.steps, t, stop.signal).then((error) => {
        if (error) finish(error);
        // Everything sent and nothing to wait for: the answers end when the server closes, or
        // when `until` matches; the timer bounds both.
      });
    });
    ws.on('message', (data, isBinary) => {
      if (finished) return;
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      answerBytes += buf.length;
      const at = elapsed();
      t.firstFrameMs ??= at;
      t.frames.push({ atMs: at, binary: isBinary, text: isBinary ? `<binary frame of ${buf.length} bytes>` : buf.toString('utf8') });
      if (t.frames.length > spec.max_frames) return finish(`more than max_frames (${spec.max_frames}) answer frames`);
      if (answerBytes > maxAnswerBytes) return finish(`answer frames larger than the limit of ${maxAnswerBytes} bytes (global.max_body_bytes)`);
      if (spec.until.length > 0 && !t.untilMet && meets(t.frames[t.frames.length - 1], spec.until)) {
        t.untilMet = true;
        closeNormally();
      }
    });
    ws.on('close', (code, reason) => {
      t.closedBy ??= 'server';
      t.closeCode = code;
      t.closeReason = reason.toString('utf8');
      finish();
    });
    ws.on('error', (err) => {
      // A refused handshake already says what happened; the socket error that follows adds nothing.
      if (t.status !== undefined && !t.opened) return finish();
      finish(describeNetworkError(err, timeoutMs).reason);
    });
  });
}

function abortReason(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
}

function progress(t: Transcript): string {
  if (!t.opened) return 'handshake not completed';
  return `${t.frames.length} answer frame${t.frames.length === 1 ? '' : 's'}, ${t.stepsSent}/${t.stepsTotal} send steps done`;
}

function meets(frame: AnswerFrame, assertions: JsonAssertion[]): boolean {
  const doc = parseJson(frame.text);
  return doc.ok && jsonHolds(doc.value, assertions);
}

/** Send every step in order; stops quietly when the socket is no longer open. Returns an error, or null. */
async function sendAll(ws: WebSocket, steps: PreparedStep[], t: Transcript, signal: AbortSignal): Promise<string | null> {
  const open = () => !signal.aborted && ws.readyState === WebSocket.OPEN;
  for (const step of steps) {
    if (!open()) return null;
    switch (step.kind) {
      case 'json':
      case 'text':
        ws.send(step.text);
        break;
      case 'wait':
        await sleep(step.ms, signal);
        break;
      case 'stream': {
        let payload: Buffer;
        try {
          payload = await readFile(step.file);
        } catch (err) {
          return `cannot read ${path.basename(step.file)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
        }
        const count = Math.ceil(payload.length / step.chunkBytes);
        if (count > step.maxChunks) return `${path.basename(step.file)} makes ${count} chunks, more than max_chunks (${step.maxChunks})`;
        // Paced against the start, not the previous send, so the rate does not drift.
        const begin = performance.now();
        for (let i = 0; i < count; i++) {
          const wait = begin + i * step.intervalMs - performance.now();
          if (wait > 0) await sleep(wait, signal);
          if (!open()) return null;
          const chunk = payload.subarray(i * step.chunkBytes, (i + 1) * step.chunkBytes).toString('base64');
          ws.send((i === 0 ? step.first : step.middle).split(CHUNK_MARK).join(chunk));
        }
        if (step.last !== undefined) {
          if (count > 0) await sleep(step.intervalMs, signal);
          if (!open()) return null;
          ws.send(step.last.split(CHUNK_MARK).join(''));
        }
        break;
      }
    }
    t.stepsSent++;
  }
  return null;
}

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

export const websocketCall: CallProbe<CallConfig> = async (call, ctx) => {
  const redact = (t: string) => ctx.redactor.redact(t);
  const spec = call.websocket!;
  const t = await converse(spec, call.sign, ctx);
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
};

export const websocketAuthCheck: AuthProbe<AuthCheckConfig> = async (check, ctx) => {
  const redact = (t: string) => ctx.redactor.redact(t);
  const t = await converse(check.websocket!, check.sign, ctx);
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
};

export const websocketProbe: Probe = { call: websocketCall, authCheck: websocketAuthCheck };
