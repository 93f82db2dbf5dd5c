// The WebSocket kind's judging, on its own: a Transcript (what happened on the wire) in, a result
// out, no network. The transport's side (connect, send, collect) is test/websocket.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCall, parseCheck } from '../src/config/schema.js';
import { HttpClient } from '../src/http/client.js';
import type { Transcript } from '../src/probes/websocket-transport.js';
import { judgeCall, judgeCheck } from '../src/probes/websocket.js';
import type { ProbeContext } from '../src/probes/types.js';
import { Redactor } from '../src/redact.js';
import { silentLogger } from './helpers/harness.js';

const SECRET = 's3cret-frame-value';
const ctx: ProbeContext = {
  vars: {},
  signal: new AbortController().signal,
  http: new HttpClient(),
  redactor: new Redactor([SECRET]),
  defaults: { timeoutMs: 1000, maxBodyBytes: 1 << 20 },
  logger: silentLogger,
};

const frame = (atMs: number, value: unknown) => ({ atMs, binary: false, text: JSON.stringify(value) });
/** A conversation that went well: accepted, everything sent, two frames, closed by us after `until`. */
const transcript = (fields: Partial<Transcript> = {}): Transcript => ({
  url: 'ws://127.0.0.1:1/v2/iat',
  status: 101,
  opened: true,
  frames: [frame(40, { code: 0, data: { status: 1 } }), frame(90, { code: 0, data: { status: 2, text: 'hi' }, sid: 'abc' })],
  firstFrameMs: 40,
  durationMs: 100,
  stepsSent: 1,
  stepsTotal: 1,
  untilMet: true,
  closedBy: 'client',
  closeCode: 1000,
  requestExcerpt: 'GET ws://127.0.0.1:1/v2/iat',
  ...fields,
});

const call = parseCall('websocket', {
  name: 'dictate',
  websocket: { url: 'ws://127.0.0.1:1/v2/iat', send: [{ text: 'go' }], until: [{ path: 'data.status', equals: 2 }] },
  expect: { frames: { each: [{ path: 'code', equals: 0 }], final: [{ path: 'data.status', equals: 2 }], min: 2, max_first_frame: '50ms' }, message_path: 'message' },
  extract: { sid: 'sid' },
  units: 3,
});

test('a conversation that met every expectation is ok, with its units and extracted values', () => {
  const r = judgeCall(call, transcript(), ctx);
  assert.equal(r.ok, true, r.reason);
  assert.equal(r.units, 3);
  assert.deepEqual(r.extracted, { sid: 'abc' });
  assert.equal(r.firstFrameSeconds, 0.04);
});

test('each expectation over the frames fails on its own, and the answer\'s words lead the reason', () => {
  const t = transcript({
    frames: [frame(70, { code: 10165, message: `bad handle ${SECRET}` })],
    firstFrameMs: 70,
    stepsSent: 0,
    untilMet: false,
    closedBy: 'server',
    closeCode: 1011,
    closeReason: 'internal',
  });
  const r = judgeCall(call, t, ctx);
  assert.equal(r.ok, false);
  assert.equal(r.units, 0);
  assert.deepEqual(r.failures.map((f) => f.check).sort(), ['close', 'extract sid', 'final frame data.status', 'first frame', 'frame #1 code', 'frames']);
  assert.match(r.failures.find((f) => f.check === 'close')!.actual, /server closed the connection \(code 1011 "internal"\) after 1 answer frame, with 0 of 1 send steps done/);
  assert.match(r.reason, /^the answer says "bad handle <redacted>"; close: /);
  assert.ok(!JSON.stringify(r).includes(SECRET), 'the secret in the frame is redacted everywhere');
});

test('a refused handshake or a transport error is the reason, without judging frames', () => {
  assert.match(judgeCall(call, transcript({ opened: false, status: 401, frames: [], refusalBody: '{"message":"HMAC signature mismatch"}' }), ctx).reason, /^handshake refused: HTTP 401 \{"message":"HMAC signature mismatch"\}/);
  assert.equal(judgeCall(call, transcript({ opened: false, status: undefined, frames: [], error: 'timeout after 1000ms (handshake not completed)' }), ctx).reason, 'timeout after 1000ms (handshake not completed)');
});

test('an auth check: a refused handshake is rejected, an accepted one is only saved by first_frame', () => {
  const byStatus = parseCheck('websocket', { name: 'bad', websocket: { url: 'ws://127.0.0.1:1/' } });
  assert.equal(judgeCheck(byStatus, transcript({ opened: false, status: 403, frames: [] }), ctx).outcome, 'rejected');
  assert.equal(judgeCheck(byStatus, transcript({ opened: false, status: 500, frames: [] }), ctx).outcome, 'error');
  assert.equal(judgeCheck(byStatus, transcript(), ctx).outcome, 'accepted');
  const byFrame = parseCheck('websocket', { name: 'bad', websocket: { url: 'ws://127.0.0.1:1/' }, rejected_when: { first_frame: [{ path: 'code', equals: 10313 }] } });
  assert.equal(judgeCheck(byFrame, transcript({ frames: [frame(5, { code: 10313 })] }), ctx).outcome, 'rejected');
  const accepted = judgeCheck(byFrame, transcript(), ctx);
  assert.equal(accepted.outcome, 'accepted');
  assert.match(accepted.reason, /^bad credential accepted: handshake 101, first frame code: expected == 10313, got 0/);
  assert.equal(judgeCheck(byFrame, transcript({ frames: [], closedBy: 'server', closeCode: 1006 }), ctx).outcome, 'error');
});
