/**
 * The simulated platform's signed services, shaped like iFLYTEK's real ones so patrol's real clients
 * can be tested end to end:
 *
 *   GET  /v2/iat  (WebSocket)  dictation: audio in (base64 chunks, data.status 0/1/2), text out
 *   GET  /v2/tts  (WebSocket)  synthesis: text in (one frame), base64 audio chunks out
 *   POST /v1/service/v1/webocr (REST)  X-Appid/X-CurTime/X-Param/X-CheckSum signed, {text} in
 *
 * The WebSocket handshakes verify the HMAC URL (authorization, date, host query parameters) as the
 * real platform does, including the 300 s clock skew and the host; refusals are HTTP 401/403 with a
 * JSON body. An unknown app id in the first frame gets an answer frame with code 10313, then a close.
 * Each successful session meters 1 unit on its service for the app id, through the simulator's own
 * metering path (lag, dropEvery, double...).
 *
 * The verification here is written independently of src/signers.ts on purpose: a test double that
 * shares the client's code would agree with the client's bugs.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { parseServiceFaults, type ServiceFaults } from './faults.js';

export const SIGNED_SERVICES = ['iat', 'tts', 'webocr'] as const;
export type SignedService = (typeof SIGNED_SERVICES)[number];
export const WEBOCR_PATH = '/v1/service/v1/webocr';

export interface SignedServiceFaults extends ServiceFaults {
  /** Wrong secret, wrong key, stale date, wrong host, bad checksum: all let through. */
  acceptBadSignature?: boolean;
  /** WebSocket services: the server drops the connection right after its first answer frame. */
  closeMidStream?: boolean;
}

/** The real platform allows this much clock difference in a signed date. */
export const MAX_SKEW_MS = 300_000;
/** A WebSocket session that sends nothing for this long is ended (the real iat says 10 s). */
const IDLE_MS = 10_000;
/** Pace of the tts answer frames. */
const TTS_FRAME_MS = 20;

const CODE = { ok: 0, invalidParam: 10106, badJson: 10160, badText: 10109, idle: 10165, invalidAppId: 10313, internal: 10500, illegalAccess: 10105 } as const;

export interface SignedServicesDeps {
  account: { appId: string; apiKey: string; apiSecret: string };
  /** The simulator's metering path: units land after its lag. */
  meter: (appId: string, service: string, units: number) => void;
  /** The simulator's timers: cleared when it closes. */
  schedule: (ms: number, fn: () => void) => NodeJS.Timeout | undefined;
  cancel: (t: NodeJS.Timeout | undefined) => void;
  log?: Logger;
}

export interface SignedServices {
  /** The HTTP server's 'upgrade' listener. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The express handler of POST WEBOCR_PATH (the body already parsed as JSON). */
  rest: (req: Request, res: Response) => void;
  setFaults: (service: string, faults: SignedServiceFaults) => void;
  clearFaults: () => void;
  view: () => { faults: Record<string, SignedServiceFaults>; calls: Record<string, number> };
  close: () => void;
}

interface State {
  faults: SignedServiceFaults;
  successes: number;
}

function isSigned(s: string): s is SignedService {
  return (SIGNED_SERVICES as readonly string[]).includes(s);
}

/** Validates and copies; the faults shared with the HTTP services are checked by the simulator's parser. */
export function parseSignedFaults(x: unknown): SignedServiceFaults {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new TypeError('faults must be an object');
  const { acceptBadSignature, closeMidStream, ...rest } = x as Record<string, unknown>;
  const out: SignedServiceFaults = parseServiceFaults(rest);
  for (const [k, v] of [['acceptBadSignature', acceptBadSignature], ['closeMidStream', closeMidStream]] as const) {
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new TypeError(`faults.${k} must be a boolean`);
    out[k] = v;
  }
  return out;
}

type Verdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** The HMAC URL check, from the published algorithm. */
export function verifyHmacUrl(url: URL, hostHeader: string | undefined, account: SignedServicesDeps['account'], now: number): Verdict {
  const authorization = url.searchParams.get('authorization');
  const date = url.searchParams.get('date');
  const host = url.searchParams.get('host');
  if (!authorization || !date || !host) return { ok: false, status: 401, message: 'Unauthorized' };
  const fields: Record<string, string> = {};
  for (const m of Buffer.from(authorization, 'base64').toString('utf8').matchAll(/(\w+)="([^"]*)"/g)) fields[m[1]] = m[2];
  if (fields.algorithm !== 'hmac-sha256' || fields.headers !== 'host date request-line' || !fields.signature || !fields.api_key) {
    return { ok: false, status: 401, message: 'HMAC signature cannot be verified' };
  }
  const at = Date.parse(date);
  if (!Number.isFinite(at) || Math.abs(now - at) > MAX_SKEW_MS) {
    return { ok: false, status: 403, message: 'HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication' };
  }
  if (fields.api_key !== account.apiKey) return { ok: false, status: 401, message: 'HMAC signature cannot be verified: unknown api_key' };
  // The host that was signed must be the host the request went to.
  if (host !== hostHeader) return { ok: false, status: 401, message: 'HMAC signature does not match' };
  const origin = `host: ${host}\ndate: ${date}\nGET ${url.pathname} HTTP/1.1`;
  const expected = createHmac('sha256', account.apiSecret).update(origin).digest();
  const given = Buffer.from(fields.signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, status: 401, message: 'HMAC signature does not match' };
  return { ok: true };
}

function refuse(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const reason = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

/** A short 16 kHz 16-bit mono tone, as "synthesised speech". */
function tone(samples: number, offset: number): Buffer {
  const buf = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (offset + i)) / 16000)), i * 2);
  return buf;
}

function record(x: unknown): Record<string, unknown> | undefined {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
}

export function createSignedServices(deps: SignedServicesDeps): SignedServices {
  const { account, log } = deps;
  const states = new Map<SignedService, State>(SIGNED_SERVICES.map((s) => [s, { faults: {}, successes: 0 }]));
  const calls: Record<string, number> = Object.fromEntries(SIGNED_SERVICES.map((s) => [s, 0]));
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1_048_576 });

  /** One successful session or call: the same dropEvery/double rules as the HTTP services. */
  const succeed = (state: State, service: SignedService, appId: string) => {
    state.successes++;
    if (state.faults.dropEvery !== undefined && state.successes % state.faults.dropEvery === 0) {
      log?.debug({ service, n: state.successes }, 'metering dropped (fault)');
      return;
    }
    deps.meter(appId, service, state.faults.double ? 2 : 1);
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://sim');
    } catch {
      return refuse(socket, 404, { message: 'not found' });
    }
    const service = url.pathname === '/v2/iat' ? 'iat' : url.pathname === '/v2/tts' ? 'tts' : null;
    if (!service) return refuse(socket, 404, { message: 'not found' });
    calls[service]++;
    // Captured now: one session is judged by one consistent set of faults.
    const state = states.get(service)!;
    if (!state.faults.acceptBadSignature) {
      const v = verifyHmacUrl(url, req.headers.host, account, Date.now());
      if (!v.ok) return refuse(socket, v.status, { message: v.message });
    }
    wss.handleUpgrade(req, socket, head, (ws) => (service === 'iat' ? iatSession(ws, state) : ttsSession(ws, state)));
  };

  /** Common to both sessions: answers (delayed by slowMs), the idle limit, the end. */
  const session = (ws: WebSocket, state: State, service: SignedService) => {
    const sid = `${service}${randomBytes(8).toString('hex')}`;
    let ended = false;
    let answers = 0;
    let idle: NodeJS.Timeout | undefined;
    const slowMs = state.faults.slowMs ?? 0;
    const later = (fn: () => void) => (slowMs > 0 ? deps.schedule(slowMs, fn) : fn());
    const end = (code = 1000) => {
      ended = true;
      deps.cancel(idle);
      later(() => {
        if (ws.readyState === WebSocket.OPEN) ws.close(code);
      });
    };
    /** Send one answer frame; with closeMidStream the first one is also the last thing sent. */
    const answer = (body: Record<string, unknown>, then?: () => void) =>
      later(() => {
        if (ws.readyState !== WebSocket.OPEN) return; // the client left: nothing more happens
        ws.send(JSON.stringify({ ...body, sid }));
        answers++;
        if (state.faults.closeMidStream && answers === 1) {
          ended = true;
          ws.terminate();
          return;
        }
        then?.();
      });
    const fail = (code: number, message: string) => {
      answer({ code, message, data: null });
      end();
    };
    const touch = () => {
      deps.cancel(idle);
      idle = deps.schedule(IDLE_MS, () => fail(CODE.idle, 'no data for 10s: session ended'));
    };
    ws.on('close', () => deps.cancel(idle));
    ws.on('error', () => ws.terminate());
    touch();
    return {
      sid,
      get ended() {
        return ended;
      },
      answer,
      fail,
      end,
      touch,
      /** Checks the first frame's common.app_id; false when the session was refused. */
      admit(msg: Record<string, unknown>): string | null {
        const appId = record(msg.common)?.app_id;
        if (typeof appId !== 'string' || appId === '') {
          fail(CODE.invalidParam, 'invalid parameter: common.app_id');
          return null;
        }
        if (appId !== account.appId && !state.faults.acceptBadCredentials) {
          fail(CODE.invalidAppId, 'invalid appid: it does not belong to this api key');
          return null;
        }
        if (!record(msg.business)) {
          fail(CODE.invalidParam, 'invalid parameter: business');
          return null;
        }
        return appId;
      },
      /** error5xx: the session fails with an internal error (metered only with meterFailed). */
      internalError(appId: string): boolean {
        if (!state.faults.error5xx) return false;
        fail(CODE.internal, 'internal error');
        if (state.faults.meterFailed) deps.meter(appId, service, state.faults.double ? 2 : 1);
        return true;
      },
    };
  };

  const parse = (s: ReturnType<typeof session>, data: WebSocket.RawData): Record<string, unknown> | null => {
    try {
      const msg = record(JSON.parse(data.toString()));
      if (msg) return msg;
    } catch {
      // answered below
    }
    s.fail(CODE.badJson, 'parse request json error');
    return null;
  };

  const iatSession = (ws: WebSocket, state: State) => {
    const s = session(ws, state, 'iat');
    let appId: string | null = null;
    let audioBytes = 0;
    let partialSent = false;
    ws.on('message', (data) => {
      if (s.ended) return;
      s.touch();
      const msg = parse(s, data);
      if (!msg) return;
      if (appId === null) {
        appId = s.admit(msg);
        if (appId === null || s.internalError(appId)) return;
      }
      const d = record(msg.data);
      const status = d?.status;
      if (status !== 0 && status !== 1 && status !== 2) return s.fail(CODE.invalidParam, 'invalid parameter: data.status');
      if (typeof d?.audio === 'string') audioBytes += Buffer.from(d.audio, 'base64').length;
      if (status !== 2) {
        // A partial result once audio has arrived, as the real service streams them.
        if (!partialSent && audioBytes > 0) {
          partialSent = true;
          s.answer({ code: CODE.ok, message: 'success', data: { status: 1, result: { sn: 1, ls: false, bg: 0, ed: 0, ws: [{ bg: 0, cw: [{ sc: 0, w: 'patrol' }] }] } } });
        }
        return;
      }
      const who = appId;
      s.answer(
        { code: CODE.ok, message: 'success', data: { status: 2, result: { sn: 2, ls: true, bg: 0, ed: 0, ws: [{ bg: 0, cw: [{ sc: 0, w: audioBytes > 0 ? ' inspection' : '' }] }] } } },
        () => succeed(state, 'iat', who),
      );
      s.end();
    });
  };

  const ttsSession = (ws: WebSocket, state: State) => {
    const s = session(ws, state, 'tts');
    let started = false;
    ws.on('message', (data) => {
      if (s.ended || started) return;
      s.touch();
      const msg = parse(s, data);
      if (!msg) return;
      const appId = s.admit(msg);
      if (appId === null || s.internalError(appId)) return;
      const d = record(msg.data);
      const text = typeof d?.text === 'string' ? Buffer.from(d.text, 'base64').toString('utf8') : '';
      if (d?.status !== 2 || text.trim() === '') return s.fail(CODE.badText, 'invalid parameter: data.text (base64, not empty) with data.status 2');
      started = true;
      // Roughly one 40 ms chunk per character, bounded.
      const chunks = Math.min(Math.max(text.length, 2), 20);
      const sendChunk = (i: number) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        const last = i === chunks - 1;
        s.answer({ code: CODE.ok, message: 'success', data: { audio: tone(640, i * 640).toString('base64'), status: last ? 2 : 1, ced: String(Math.round(((i + 1) / chunks) * text.length)) } }, () => {
          if (!last) deps.schedule(TTS_FRAME_MS, () => sendChunk(i + 1));
          else {
            succeed(state, 'tts', appId);
            s.end();
          }
        });
      };
      sendChunk(0);
    });
  };

  const rest = (req: Request, res: Response) => {
    calls.webocr++;
    const state = states.get('webocr')!;
    const faults = state.faults;
    const sid = `wcr${randomBytes(8).toString('hex')}`;
    const reply = (status: number, body: Record<string, unknown>) => res.status(status).json({ ...body, sid });
    const answer = () => {
      if (res.destroyed || res.writableEnded) return;
      const appId = req.get('x-appid') ?? '';
      const curTime = req.get('x-curtime') ?? '';
      const param = req.get('x-param') ?? '';
      const checksum = req.get('x-checksum') ?? '';
      if (!faults.acceptBadSignature) {
        if (!appId || !curTime || !param || !checksum) return reply(200, { code: String(CODE.illegalAccess), desc: 'illegal access|missing header', data: '' });
        const t = Number(curTime) * 1000;
        if (!/^\d+$/.test(curTime) || Math.abs(Date.now() - t) > MAX_SKEW_MS) return reply(200, { code: String(CODE.illegalAccess), desc: 'illegal access|illegal X-CurTime', data: '' });
        const expected = createHash('md5').update(account.apiKey + curTime + param).digest('hex');
        if (checksum !== expected) return reply(200, { code: String(CODE.illegalAccess), desc: 'illegal access|illegal X-CheckSum', data: '' });
      }
      if (appId !== account.appId && !faults.acceptBadCredentials) return reply(200, { code: String(CODE.invalidAppId), desc: 'invalid appid', data: '' });
      try {
        if (!record(JSON.parse(Buffer.from(param, 'base64').toString('utf8')))) throw new Error('not an object');
      } catch {
        return reply(200, { code: String(CODE.invalidParam), desc: 'invalid parameter|X-Param is not base64 JSON', data: '' });
      }
      const text = record(req.body)?.text;
      if (typeof text !== 'string') return reply(400, { code: String(CODE.invalidParam), desc: 'invalid parameter|text', data: '' });
      if (faults.error5xx) {
        reply(500, { code: String(CODE.internal), desc: 'internal error', data: '' });
        if (faults.meterFailed) deps.meter(appId, 'webocr', faults.double ? 2 : 1);
        return;
      }
      reply(200, { code: '0', desc: 'success', data: { result: text.toUpperCase() } });
      succeed(state, 'webocr', appId);
    };
    const slowMs = faults.slowMs ?? 0;
    if (slowMs <= 0) return answer();
    const timer = deps.schedule(slowMs, () => {
      res.off('close', onClose);
      answer();
    });
    const onClose = () => deps.cancel(timer);
    res.once('close', onClose);
  };

  return {
    upgrade,
    rest,
    setFaults(service, faults) {
      if (!isSigned(service)) throw new TypeError(`unknown signed service: ${service} (one of ${SIGNED_SERVICES.join(', ')})`);
      states.set(service, { faults: parseSignedFaults(faults), successes: 0 });
      log?.info({ service, faults }, 'signed service faults set');
    },
    clearFaults() {
      for (const s of SIGNED_SERVICES) states.set(s, { faults: {}, successes: 0 });
    },
    view() {
      return { faults: Object.fromEntries([...states].map(([k, v]) => [k, { ...v.faults }])), calls: { ...calls } };
    },
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
