// The transport of WebSocket calls and auth checks: what a conversation is (the request schema),
// and holding it: connect (headers, subprotocols, TLS verified unless the request says otherwise,
// optionally signed), send a scripted sequence of frames (JSON, text, a file streamed in chunks at
// a pace, pauses), and collect the answer frames into a Transcript. Nothing here judges: the kind
// (websocket.ts) holds the transcript to the call's expectations, so a call and an auth check
// share every line of the network code.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { z } from 'zod';
import { CALL_MAX, doc, duration, jsonAssertion, jsonObject, PAUSE_MAX, stringMap, tlsOptions, urlTemplate, type JsonAssertion, type SignConfig } from '../config/parts.js';
import { jsonHolds, parseJson } from '../expect.js';
import { describeNetworkError } from '../http/failure.js';
import { applySigner, redactUrl } from '../signers.js';
import { render, renderDeep } from '../template.js';
import { sleep } from '../util/duration.js';
import type { ProbeContext } from './types.js';

/** Sends payload chunks from a file at a pace, each in a JSON frame (`{{chunk}}`: the chunk in base64). */
export const wsStream = z
  .strictObject({
    file: z.string().min(1).meta(doc("The payload file; a relative path starts at the config file's folder.", 'audio/sample.pcm')),
    chunk_bytes: z.number().int().min(1).max(1_048_576).default(1280).meta(doc('Bytes per chunk.')),
    interval: duration({ max: PAUSE_MAX }).prefault('40ms').meta(doc('Time between chunks, paced from the start (no drift).')),
    first: jsonObject.optional().meta(doc('The frame of the first chunk (default: middle).', { common: { app_id: '{{app_id}}' }, data: { status: 0, audio: '{{chunk}}' } })),
    middle: jsonObject.meta(doc('The frame of each chunk; {{chunk}} is the chunk in base64.', { data: { status: 1, audio: '{{chunk}}' } })),
    last: jsonObject.optional().meta(doc('Sent once after the last chunk; {{chunk}} is empty here.', { data: { status: 2, audio: '' } })),
    max_chunks: z.number().int().min(1).max(100_000).default(10_000).meta(doc('Stop after this many chunks.')),
  })
  .meta({ id: 'WsStream', ...doc('Sends a file in paced chunks, each in a JSON frame.') });

/** One step of what a WebSocket call sends: a JSON frame, a text frame, a stream, or a pause. */
export const wsStep = z
  .strictObject({
    json: z.unknown().optional().meta(doc('Send this as a JSON text frame (strings are templates).', { hello: '{{app_id}}' })),
    text: z.string().optional().meta(doc('Send this text frame (a template).', 'ping')),
    stream: wsStream.optional(),
    wait: duration({ max: PAUSE_MAX }).optional().meta(doc('Pause this long.', '100ms')),
  })
  .refine((f) => [f.json, f.text, f.stream, f.wait].filter((x) => x !== undefined).length === 1, {
    message: 'a send step is exactly one of json, text, stream, wait',
  })
  .meta({ id: 'WsStep', ...doc('One step of what a WebSocket call sends: exactly one of json, text, stream, wait.') });

export const websocketRequest = z
  .strictObject({
    url: urlTemplate.meta(doc('ws://, wss://, or http(s):// (sent as ws(s)://); a template.', 'wss://iat-api.xfyun.cn/v2/iat')),
    headers: stringMap.prefault({}).meta(doc('Handshake headers: name -> value (templates).')),
    query: stringMap.prefault({}).meta(doc('Query parameters added to the URL (templates).')),
    subprotocols: z.array(z.string().min(1)).prefault([]).meta(doc('Sec-WebSocket-Protocol values to offer.', ['chat'])),
    send: z.array(wsStep).prefault([]).meta(doc('What to send, in order.')),
    until: z.array(jsonAssertion).prefault([]).meta(doc('Close normally once an answer frame meets these; without them, wait for the server to close.', [{ path: 'data.status', equals: 2 }])),
    timeout: duration({ min: '1ms', max: CALL_MAX }).optional().meta(doc('The whole conversation (default: global.call_timeout).', '15s')),
    tls: tlsOptions.optional(),
    max_frames: z.number().int().min(1).max(100_000).default(1000).meta(doc('Stop reading after this many answer frames.')),
    max_frame_bytes: z.number().int().positive().default(1_048_576).meta(doc('Refuse an answer frame larger than this.')),
  })
  .meta({ id: 'WebsocketRequest', ...doc('A WebSocket conversation.') });
export type WebsocketRequest = z.infer<typeof websocketRequest>;

export const EXCERPT = 2000;
export const FRAME_EXCERPT = 300;
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

export function abortReason(signal: AbortSignal): string {
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

