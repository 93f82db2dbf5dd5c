// Session tokens are redacted while they may be in use, then forgotten: the redactor of a long-lived
// worker must not grow with every login (and redact() slow down with it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { platformSchema } from '../src/config/schema.js';
import { HttpClient } from '../src/http/client.js';
import { PlatformSession } from '../src/platform/session.js';
import { REDACTED, Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';

const CONFIG_SECRET = 'config-secret-value';

test('many logins against the simulator: the current and previous tokens are redacted, older ones forgotten', async () => {
  const sim = await startSimulator({ lagMs: 0 });
  const http = new HttpClient();
  const redactor = new Redactor([CONFIG_SECRET]);
  const baseline = redactor.size;
  try {
    // Every session expires before each counter read (max_age is at least 1 s): each read logs in again.
    const platform = platformSchema.parse({
      login: { http: { method: 'POST', url: `${sim.url}/console/login`, json: { username: 'demo', password: 'demo-password' } }, extract: { sso: 'data.ssoSessionId' } },
      session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' } },
      not_logged_in: { json: [{ path: 'code', equals: 11001 }] },
      counter: { http: { url: `${sim.url}/console/usage`, query: { appid: '5f3a9c01', service: 'ocr' } }, value: 'data.usedCount' },
    });
    const session = new PlatformSession('p', platform, { http, redactor, defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 }, logger: pino({ level: 'silent' }), vars: {} });
    const tokens: string[] = [];
    for (let i = 0; i < 30; i++) {
      sim.expireSessions();
      const read = await session.readCounter({}, new AbortController().signal);
      assert.ok(read.ok, read.ok ? '' : read.reason);
      const c = await session.credentials({}, new AbortController().signal);
      assert.ok(typeof c !== 'string', String(c));
      const token = c.headers.Cookie.slice('ssoSessionId='.length);
      if (token !== tokens.at(-1)) tokens.push(token);
      assert.ok(redactor.learntCount <= 2, `${redactor.learntCount} tokens kept after ${tokens.length} logins`);
    }
    assert.ok(tokens.length >= 10, `only ${tokens.length} logins`);
    assert.ok(session.logins >= tokens.length);
    const [older, previous, current] = tokens.slice(-3);
    assert.equal(redactor.redact(`a ${current} b`), `a ${REDACTED} b`);
    assert.equal(redactor.redact(`a ${previous} b`), `a ${REDACTED} b`);
    assert.equal(redactor.redact(`a ${older} b`), `a ${older} b`);
    assert.equal(redactor.redact(tokens[0]), tokens[0]);
    // Two tokens (each with its forms) on top of the config secret's forms, however many logins.
    assert.ok(redactor.size <= baseline + 8, `${redactor.size} strings searched`);
    assert.equal(redactor.redact(CONFIG_SECRET), REDACTED);
  } finally {
    await http.close();
    await sim.close();
  }
});

test('learnt secrets are bounded, oldest out; config secrets are never forgotten', () => {
  const r = new Redactor([CONFIG_SECRET], 8);
  for (let i = 0; i < 1000; i++) r.learn(`learnt-token-${i}`);
  assert.equal(r.learntCount, 8);
  assert.equal(r.redact('learnt-token-999'), REDACTED);
  assert.equal(r.redact('learnt-token-992'), REDACTED);
  assert.equal(r.redact('learnt-token-991'), 'learnt-token-991');
  // A learnt value equal to a config secret, forgotten: the config secret stays.
  r.learn(CONFIG_SECRET);
  r.forget(CONFIG_SECRET);
  r.forget('not-known-at-all');
  assert.equal(r.redact(`x ${CONFIG_SECRET}`), `x ${REDACTED}`);
  // Learnt again, a value becomes the newest and outlives those learnt before it.
  r.learn('learnt-token-992');
  for (let i = 0; i < 7; i++) r.learn(`later-${i}`);
  assert.equal(r.redact('learnt-token-992'), REDACTED);
  assert.equal(r.redact('learnt-token-999'), 'learnt-token-999');
});
