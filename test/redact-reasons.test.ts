// Reasons a person can act on: with `message_path`, a failed login, counter read or call quotes the
// answer's own message (redacted, short), against the real simulator; an answer that is not JSON is
// said once, plainly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { parseConfig } from '../src/config/load.js';
import { parseCall, platformSchema } from '../src/config/schema.js';
import { HttpClient } from '../src/http/client.js';
import { withSim } from './helpers/harness.js';
import { PlatformSession } from '../src/platform/session.js';
import { httpCall } from '../src/probes/http.js';
import { scriptCall } from '../src/probes/script.js';
import type { ProbeContext } from '../src/probes/types.js';
import { Redactor } from '../src/redact.js';
import type { Simulator } from '../src/sim/platform.js';

const SECRET = 'ZW8QK3TPL5RM2XNV';
const silent = pino({ level: 'silent' });
const defaults = { timeoutMs: 5000, maxBodyBytes: 1 << 20 };
const ocr = (sim: Simulator, key: string, text: string) => ({ method: 'POST', url: `${sim.url}/v1/ocr`, headers: { 'X-Appid': '5f3a9c01', 'X-Api-Key': key }, json: { text } });

function ctx(http: HttpClient): ProbeContext {
  return { vars: { service_id: 's', app_id: '5f3a9c01', params: {}, vars: {} }, signal: new AbortController().signal, http, redactor: new Redactor([SECRET]), defaults, logger: silent };
}


test('a failed login and counter read quote the answer\'s message_path', async () => {
  await withSim({}, async (sim, http) => {
    const login = (password: string, messagePath?: string) => ({
      http: { method: 'POST', url: `${sim.url}/console/login`, json: { username: 'demo', password } },
      expect: { status: 200, json: [{ path: 'code', equals: 0 }], ...(messagePath ? { message_path: messagePath } : {}) },
      extract: { sso: 'data.ssoSessionId' },
    });
    const counter = (appid: string) => ({ http: { url: `${sim.url}/console/usage`, query: { appid, service: 'ocr' } }, expect: { json: [{ path: 'code', equals: 0 }], message_path: 'message' }, value: 'data.usedCount' });
    const read = async (cfg: unknown) => {
      const session = new PlatformSession('p', platformSchema.parse(cfg), { http, redactor: new Redactor([SECRET]), defaults, logger: silent, vars: {} });
      return session.readCounter({ service_id: 's', app_id: '5f3a9c01' }, new AbortController().signal);
    };

    const bad = await read({ login: login('wrong', 'message'), session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' } }, counter: counter('5f3a9c01') });
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.reason, 'login failed: the answer says "invalid username or password"; status: expected 200, got 401; json code: expected == 0, got 10001');
    // Without message_path the reason is as before.
    const plain = await read({ login: login('wrong'), session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' } }, counter: counter('5f3a9c01') });
    assert.equal(!plain.ok && plain.reason, 'login failed: status: expected 200, got 401; json code: expected == 0, got 10001');

    // A login answered with 200 and no token, checked by extract alone: the message still leads.
    const noToken = await read({
      login: { http: { method: 'POST', url: `${sim.url}/v1/ocr`, headers: { 'X-Appid': '5f3a9c01', 'X-Api-Key': 'demo-api-key-0001' }, json: { text: 'x' } }, expect: { message_path: 'message' }, extract: { sso: 'data.ssoSessionId' } },
      counter: counter('5f3a9c01'),
    });
    assert.equal(!noToken.ok && noToken.reason, 'login failed: the answer says "success"; no session value "sso" at data.ssoSessionId in the answer (status 200)');

    // An empty app id: the console answers 400 with its reason.
    const empty = await read({ login: login('demo-password', 'message'), session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' } }, counter: counter('') });
    assert.equal(!empty.ok && empty.reason, 'counter read failed: the answer says "invalid parameter: appid"; status: expected 2xx, got 400; json code: expected == 0, got 10106');
  });
});

test('a failed call quotes its answer\'s message, redacted and cut; a call that passes has no reason', async () => {
  await withSim({}, async (sim, http) => {
    const expect = { status: 200, json: [{ path: 'code', equals: 0 }], message_path: 'message' };
    const wrongKey = await httpCall(parseCall('http', { name: 'c', http: ocr(sim, 'wrong-key', 'x'), expect }), ctx(http));
    assert.equal(wrongKey.reason, 'the answer says "unauthorized: invalid api key or app id"; status: expected 200, got 401; json code: expected == 0, got 11200');

    const ok = await httpCall(parseCall('http', { name: 'c', http: ocr(sim, 'demo-api-key-0001', 'x'), expect }), ctx(http));
    assert.equal(ok.ok, true, ok.reason);
    assert.equal(ok.reason, '');

    // The quoted value holds a secret across its cut (160): redacted first, nothing of it left.
    const echoed = await httpCall(
      parseCall('http', { name: 'c', http: ocr(sim, 'demo-api-key-0001', `${'A'.repeat(155)}${SECRET}`), expect: { json: [{ path: 'code', equals: 1 }], message_path: 'data.result' } }),
      ctx(http),
    );
    assert.match(echoed.reason, /^the answer says "A{155}<redacted>"; json code: expected == 1, got 0$/);
    assert.ok(!JSON.stringify(echoed).includes(SECRET.slice(0, 6)));
  });
});

test('a script call quotes message_path from its stdout', async () => {
  const http = new HttpClient();
  try {
    const call = parseCall('script', { name: 's', script: { command: ['node', '-e', 'console.log(JSON.stringify({ code: 10105, message: "用户名或密码错误" }))'] }, expect: { json: [{ path: 'code', equals: 0 }], message_path: 'message' } });
    const r = await scriptCall(call, ctx(http));
    assert.equal(r.reason, 'the answer says "用户名或密码错误"; json code: expected == 0, got 10105');
  } finally {
    await http.close();
  }
});

test('an answer that is not JSON is said once, plainly', async () => {
  const http = new HttpClient();
  try {
    const call = parseCall('script', { name: 's', script: { command: ['sh', '-c', 'echo "Service Unavailable"'] }, expect: { json: [{ path: 'code', equals: 0 }] } });
    const r = await scriptCall(call, ctx(http));
    assert.equal(r.reason, 'json: expected a JSON body, got text that is not JSON: Service Unavailable\n');
    const empty = await scriptCall(parseCall('script', { name: 's', script: { command: ['true'] }, expect: { json: [{ path: 'code', equals: 0 }] } }), ctx(http));
    assert.equal(empty.reason, 'json: expected a JSON body, got an empty body');
  } finally {
    await http.close();
  }
});

test('message_path is a JSON path, checked at load', () => {
  const cfg = (mp: string) => `
platforms:
  p:
    login: { http: { url: "http://127.0.0.1:1/login" }, extract: { s: data.s }, expect: { message_path: "${mp}" } }
    counter: { http: { url: "http://127.0.0.1:1/usage" }, value: data.n }
services:
  - id: s
    calls:
      - { name: c, http: { url: "http://127.0.0.1:1/x" }, expect: { message_path: msg } }
`;
  assert.equal(parseConfig(cfg('message'), 't.yml').config.platforms.p.login.expect.message_path, 'message');
  assert.throws(() => parseConfig(cfg('a..b'), 't.yml'), /message_path/);
});
