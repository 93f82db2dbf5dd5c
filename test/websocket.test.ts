// WebSocket calls end to end: the real Inspector runs rounds against the simulated platform's iat and
// tts services (src/sim/ws.ts) over real sockets on 127.0.0.1, port 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { websocketCall } from '../src/probes/websocket.js';
import type { ProbeContext } from '../src/probes/types.js';
import { Redactor } from '../src/redact.js';
import { HttpClient } from '../src/http/client.js';
import { parseCall } from '../src/config/schema.js';
import { DEMO_ACCOUNT } from '../src/sim/platform.js';
import { withSim } from './helpers/harness.js';
import { round, wsConfig } from './helpers/xfyun-config.js';
import { assertNoSecrets } from './helpers/secrets.js';

const APP = DEMO_ACCOUNT.appId;
const silent = pino({ level: 'silent' });

test('iat and tts rounds are ok and meter exactly one unit each', async () => {
  await withSim({}, async (sim) => {
    const r = await round(sim, wsConfig());
    const byId = Object.fromEntries(r.services.map((s) => [s.serviceId, s]));
    for (const id of ['iat', 'tts']) {
      const s = byId[id];
      assert.equal(s.verdict, 'ok', `${id}: ${s.reason} ${JSON.stringify(s.calls)}`);
      assert.equal(s.delta, 1);
      assert.equal(s.expectedDelta, 1);
      const call = s.calls[0];
      assert.equal(call.kind, 'websocket');
      assert.equal(call.status, 101);
      assert.ok(call.firstFrameSeconds !== undefined && call.firstFrameSeconds <= call.durationSeconds);
      // The signed URL is a credential for five minutes: never shown.
      assert.match(call.requestExcerpt ?? '', /authorization=%3Credacted%3E/);
      assert.doesNotMatch(JSON.stringify(call), new RegExp(DEMO_ACCOUNT.apiSecret));
    }
    assert.equal(sim.usage(APP, 'iat'), 1);
    assert.equal(sim.usage(APP, 'tts'), 1);
    assert.deepEqual(sim.signedStats(), { iat: 1, tts: 1, webocr: 0 });
  });
});

test('metering faults apply to WebSocket services: dropEvery is an undercharge, double an overcharge', async () => {
  await withSim({}, async (sim) => {
    sim.setSignedFaults('iat', { dropEvery: 1 });
    sim.setSignedFaults('tts', { double: true });
    const r = await round(sim, wsConfig());
    const [iat, tts] = r.services;
    assert.equal(iat.verdict, 'metering_mismatch');
    assert.match(iat.reason, /under by 1/);
    assert.equal(tts.verdict, 'metering_mismatch');
    assert.match(tts.reason, /over by 1/);
  });
});

test('a stream the server closes mid-way is call_failed with that reason, and not metered', async () => {
  await withSim({}, async (sim) => {
    sim.setSignedFaults('iat', { closeMidStream: true });
    sim.setSignedFaults('tts', { closeMidStream: true });
    const r = await round(sim, wsConfig());
    for (const s of r.services) {
      assert.equal(s.verdict, 'call_failed', s.reason);
      assert.match(s.reason, /the server closed the connection \(code 1006\) after 1 answer frame/);
      assert.equal(s.calls[0].units, 0);
      assert.equal(s.delta, 0);
      assert.equal(s.expectedDelta, 0);
    }
    assert.match(r.services[0].reason, /send steps done/);
    assert.match(r.services[1].reason, /before a frame met until/);
  });
});

test('a refused handshake is call_failed with the status and the body', async () => {
  await withSim({}, async (sim) => {
    const bad = wsConfig({ apiSecret: 'not-the-secret' });
    const r = await round(sim, bad, ['iat']);
    const s = r.services[0];
    assert.equal(s.verdict, 'call_failed');
    assert.equal(s.calls[0].status, 401);
    assert.match(s.reason, /handshake refused: HTTP 401 \{"message":"HMAC signature does not match"\}/);
  });
});

// Probe-level tests against small local servers: timeouts, early closes, the round's AbortSignal.
function probeCtx(signal: AbortSignal, timeoutMs = 2000): ProbeContext {
  return { vars: { app_id: APP }, signal, http: new HttpClient(), redactor: new Redactor(['s3cret-value']), defaults: { timeoutMs, maxBodyBytes: 1 << 20 }, logger: silent };
}

async function wsServer(onConnection: (ws: import('ws').WebSocket) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => server.close(r));
    },
  };
}

test('a server that never answers: the call ends at its timeout, and the round signal aborts it sooner', async () => {
  const srv = await wsServer(() => {});
  try {
    const call = parseCall('websocket', { name: 'silent', websocket: { url: srv.url, send: [{ json: { hello: 1 } }], timeout: 0.3 } });
    const t0 = Date.now();
    const r = await websocketCall(call, probeCtx(new AbortController().signal));
    assert.equal(r.ok, false);
    assert.match(r.reason, /timeout after 300ms \(0 answer frames, 1\/1 send steps done\)/);
    // The timeout is the feature: the server never answers, so without it the call never ends; 15 s
    // is far more than the moment it takes on any machine.
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);

    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutdown')), 100);
    const long = parseCall('websocket', { name: 'silent', websocket: { url: srv.url, timeout: 120 } });
    const t1 = Date.now();
    const a = await websocketCall(long, probeCtx(ac.signal));
    assert.match(a.reason, /aborted: shutdown/);
    // Aborted at once is the feature: 15 s is far from the two-minute timeout it would otherwise run to.
    assert.ok(Date.now() - t1 < 15_000, `took ${Date.now() - t1} ms`);
  } finally {
    await srv.close();
  }
});

test('frames are judged each/final/any; extract reads the final frame; secrets are redacted from excerpts', async () => {
  const srv = await wsServer((ws) => {
    ws.on('message', () => {
      ws.send(JSON.stringify({ code: 0, data: { status: 1 }, echo: 's3cret-value' }));
      ws.send(JSON.stringify({ code: 7, data: { status: 2 }, sid: 'abc' }));
      ws.close(1000);
    });
  });
  try {
    const call = parseCall('websocket', {
      name: 'judge',
      websocket: { url: srv.url.replace('ws:', 'http:'), send: [{ text: 'go' }] },
      expect: { frames: { each: [{ path: 'code', equals: 0 }], final: [{ path: 'data.status', equals: 2 }], any: [{ path: 'nothing', exists: true }] } },
      extract: { sid: 'sid' },
    });
    const r = await websocketCall(call, probeCtx(new AbortController().signal));
    assert.equal(r.ok, false);
    assert.deepEqual(r.failures.map((f) => f.check), ['frame #2 code', 'any frame']);
    assert.equal(r.extracted.sid, 'abc');
    assertNoSecrets(JSON.stringify(r), 'the call result', ['s3cret-value']);
    assert.match(r.responseExcerpt ?? '', /<redacted>/);
  } finally {
    await srv.close();
  }
});

