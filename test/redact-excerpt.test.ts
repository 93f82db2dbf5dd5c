// A secret that straddles an excerpt's cut must not leave its beginning behind: every excerpt site
// (HTTP request and response, failed expectations, WebSocket transcript, script stdout/stderr, the
// login and counter reasons) is fed a secret placed across its cut, against the real simulator and
// real processes, and the whole result is searched for the secret's first characters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { parseCall, platformSchema } from '../src/config/schema.js';
import { sendError } from '../src/digest/mailer.js';
import { HttpClient } from '../src/http/client.js';
import { withSim } from './helpers/harness.js';
import { PlatformSession } from '../src/platform/session.js';
import { httpCall } from '../src/probes/http.js';
import { scriptCall } from '../src/probes/script.js';
import { websocketCall } from '../src/probes/websocket.js';
import type { ProbeContext } from '../src/probes/types.js';
import { excerpt, Redactor } from '../src/redact.js';
import { inspectorFor, ocrConfig } from './helpers/harness.js';

// Upper case: the simulator's ocr service answers the text it was sent in upper case.
const SECRET = 'QX7ZK2WM9RTLV4PN8HJD';
const PREFIX = SECRET.slice(0, 6);
const silent = pino({ level: 'silent' });
/** Where a cut may fall inside the secret: after its first character, its first 6, and so on. */
const INSIDE = [1, 6, 10, SECRET.length - 1];

function ctx(http: HttpClient, redactor = new Redactor([SECRET])): ProbeContext {
  return {
    vars: { service_id: 'svc', app_id: 'app', business_id: 'ocr', name: 'Svc', params: {}, vars: {} },
    signal: new AbortController().signal,
    http,
    redactor,
    defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 },
    logger: silent,
  };
}

function noPrefix(what: string, value: unknown): void {
  const text = JSON.stringify(value);
  assert.ok(!text.includes(PREFIX), `${what}: the secret's first characters leaked:\n${text}`);
}


test('excerpt redacts the whole text before it cuts', () => {
  const r = new Redactor([SECRET]);
  for (const k of INSIDE) {
    const text = `${'a'.repeat(100 - k)}${SECRET} and more`;
    const cut = excerpt(text, 100, (t) => r.redact(t));
    assert.ok(!cut.includes(SECRET.slice(0, k)), cut);
    assert.ok(cut.length <= 100 + '<redacted>… [999 more characters]'.length, cut);
    assert.equal(r.excerpt(text, 100), cut);
  }
  assert.equal(excerpt('short', 100, (t) => t), 'short');
  assert.equal(excerpt('abcdef', 3, (t) => t), 'abc… [3 more characters]');
  // The cut never splits the marker that stands for a secret.
  assert.equal(r.excerpt(`ab${SECRET}cdef`, 5), 'ab<redacted>… [4 more characters]');
  assert.equal(r.excerpt(`ab${SECRET}`, 5), 'ab<redacted>');
});

test('a mail error that echoes a secret across its cut does not leak', () => {
  const r = new Redactor([SECRET]);
  for (const k of INSIDE) {
    // "EAUTH 535 " then the server's text: the cut is at 500.
    const err = Object.assign(new Error(`${'a'.repeat(500 - 'EAUTH 535 '.length - k)}${SECRET} rest`), { code: 'EAUTH', responseCode: 535 });
    const line = sendError(err, (t) => r.redact(t));
    assert.match(line, /^EAUTH 535 a+<redacted>/);
    noPrefix(`mail error, ${k} inside`, line);
  }
});

test('HTTP call: a secret across the request, response and failure cuts does not leak', async () => {
  await withSim({}, async (sim, http) => {
    // Request body {"text":"<pad><secret>"}: its cut at 2000. Response {...,"data":{"result":"<PAD><SECRET>"}}:
    // its cut at 2000 after a fixed head. The failed body_regex shows the first 200 characters.
    const requestHead = '{"text":"'.length;
    const responseHead = '{"code":0,"message":"success","sid":"0123456789abcdef","data":{"result":"'.length;
    const pads = INSIDE.flatMap((k) => [2000 - requestHead - k, 2000 - responseHead - k, 200 - responseHead - k]);
    for (const pad of pads) {
      const call = parseCall('http', {
        name: 'ocr',
        http: { method: 'POST', url: `${sim.url}/v1/ocr`, headers: { 'X-Appid': '5f3a9c01', 'X-Api-Key': 'demo-api-key-0001' }, json: { text: `${'A'.repeat(pad)}${SECRET}` } },
        expect: { status: 200, body_regex: 'never-there' },
      });
      const r = await httpCall(call, ctx(http));
      assert.equal(r.status, 200, r.reason);
      assert.match(r.reason, /body: expected matches/);
      noPrefix(`pad ${pad}`, r);
    }
  });
});

test('script call: a secret across the stdout, stderr and reason cuts does not leak', async () => {
  const http = new HttpClient();
  try {
    // stdout and stderr are cut at 1000 each; the reason shows the last stderr line cut at 160.
    for (const k of INSIDE) {
      for (const [stream, at] of [['stdout', 1000], ['stderr', 1000], ['stderr', 160]] as const) {
        const text = `${'a'.repeat(at - k)}${SECRET}`;
        const call = parseCall('script', { name: 's', script: { command: ['node', '-e', `process.${stream}.write(${JSON.stringify(text)}); process.exitCode = 2`] } });
        const r = await scriptCall(call, ctx(http));
        assert.equal(r.status, 2, r.reason);
        noPrefix(`${stream} cut at ${at}, ${k} inside`, r);
      }
      // Output past max_output_bytes (1024 here) is dropped: the kept stderr can end inside the
      // secret, and its last line is quoted in the reason.
      const text = `${'a'.repeat(1024 - 10 - k)}\n${'b'.repeat(9)}${SECRET}`;
      const call = parseCall('script', { name: 's', script: { command: ['node', '-e', `process.stderr.write(${JSON.stringify(text)}); process.exitCode = 2`], max_output_bytes: 1024 } });
      const r = await scriptCall(call, ctx(http));
      assert.match(r.responseExcerpt ?? '', /output truncated/);
      assert.match(r.reason, /stderr: bbbbbbbbb<redacted>\)/);
      noPrefix(`stderr cut at max_output_bytes, ${k} inside`, r);
    }
  } finally {
    await http.close();
  }
});

test('WebSocket call: a secret across the request and transcript cuts does not leak', async () => {
  // Answer frames come from a real echo server (the simulator's iat/tts never repeat what they get);
  // the send steps are cut at 300 each, the answer frames at 300 each and the transcript at 2000.
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data.toString())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const http = new HttpClient();
  try {
    const frameHead = '{"t":"'.length;
    const lineHead = '#1 +0.000s '.length;
    for (const k of INSIDE) {
      for (const pad of [300 - frameHead - k, 2000 - lineHead - frameHead - k]) {
        const call = parseCall('websocket', {
          name: 'ws',
          websocket: { url, send: [{ json: { t: `${'a'.repeat(pad)}${SECRET}` } }], until: [{ path: 't', exists: true }] },
          expect: { frames: { each: [{ path: 'code', equals: 0 }] } },
        });
        const r = await websocketCall(call, ctx(http));
        assert.equal(r.status, 101, r.reason);
        noPrefix(`pad ${pad}`, r);
      }
    }
  } finally {
    await http.close();
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise((r) => server.close(r));
  }
});

test('login and counter reasons: a secret across their cuts does not leak', async () => {
  await withSim({}, async (sim, http) => {
    const redactor = new Redactor([SECRET]);
    for (const k of INSIDE) {
      // The counter answer repeats the service name; a missing value shows the body cut at 200.
      const head = '{"code":0,"message":"success","data":{"appid":"5f3a9c01","service":"'.length;
      const platform = platformSchema.parse({
        login: { http: { method: 'POST', url: `${sim.url}/console/login`, json: { username: 'demo', password: 'demo-password' } }, extract: { sso: 'data.ssoSessionId' } },
        session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' } },
        counter: { http: { url: `${sim.url}/console/usage`, query: { appid: '5f3a9c01', service: `${'s'.repeat(200 - head - k)}${SECRET}` } }, value: 'data.nothing' },
      });
      const session = new PlatformSession('p', platform, { http, redactor, defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 }, logger: silent, vars: {} });
      const reading = await session.readCounter({ service_id: 's', app_id: '5f3a9c01' }, new AbortController().signal);
      assert.equal(reading.ok, false);
      assert.match(JSON.stringify(reading), /no value at data\.nothing/);
      noPrefix(`counter, ${k} inside`, reading);

      // A login answer that does not meet its expectation shows the value seen, cut at 200: the
      // ocr service stands in for a login that answers with the secret.
      const lhead = '"'.length;
      const login = platformSchema.parse({
        login: {
          http: { method: 'POST', url: `${sim.url}/v1/ocr`, headers: { 'X-Appid': '5f3a9c01', 'X-Api-Key': 'demo-api-key-0001' }, json: { text: `${'B'.repeat(200 - lhead - k)}${SECRET}` } },
          expect: { json: [{ path: 'data.result', equals: 'x' }] },
          extract: { sso: 'data.ssoSessionId' },
        },
        counter: { http: { url: `${sim.url}/console/usage` }, value: 'data.usedCount' },
      });
      const failing = new PlatformSession('p', login, { http, redactor, defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 }, logger: silent, vars: {} });
      const r2 = await failing.readCounter({ service_id: 's', app_id: '5f3a9c01' }, new AbortController().signal);
      assert.equal(r2.ok, false);
      assert.match(JSON.stringify(r2), /login failed: json data\.result/);
      noPrefix(`login, ${k} inside`, r2);
    }
  });
});

test('a whole round: the API key sent after 1,990 characters appears nowhere in the result', async () => {
  // The issue as reported: a request body of 1,990 characters, then the key (a config secret from
  // the environment); the simulator refuses the unknown key and the round result is searched.
  const key = 'KEY7QX2ZW9RTLM4VPN8H';
  const pad = 2000 - '{"text":"'.length - 10;
  const text = ocrConfig({ apiKey: '${PATROL_TEST_KEY}', settleTimeoutMs: 300, callText: `${'a'.repeat(pad)}{{params.api_key}}` });
  await withSim({}, async (sim) => {
    const { inspector } = inspectorFor(text, sim, { PATROL_TEST_KEY: key });
    try {
      const round = await inspector.runRound({ trigger: 'cli' });
      const call = round.services[0].calls[0];
      assert.match(call.requestExcerpt ?? '', /a{100}/);
      assert.ok(!JSON.stringify(round).includes(key.slice(0, 6)), JSON.stringify(call));
    } finally {
      await inspector.close();
    }
  });
});
