// Signers against the platform's published test vector, and against vectors computed here directly
// from the specification text with node:crypto (not through the signer's code).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { signSchema } from '../src/config/schema.js';
import { applySigner, redactUrl, rfc1123, xfyunChecksum, xfyunHmac, type SignTarget } from '../src/signers.js';

// Published by iFLYTEK in its WebSocket API documentation.
const PUBLIC = {
  apiKey: 'keyxxxxxxxx8ee279348519exxxxxxxx',
  apiSecret: 'secretxxxxxxxx2df7900c09xxxxxxxx',
  host: 'iat-api.xfyun.cn',
  date: 'Wed, 10 Jul 2019 07:35:43 GMT',
  signature: 'Hp3Ty4ZkSBmL8jKyOLpQiv9Sr5nvmeYEH7WsL/ZO2Jg=',
};

function target(url: string, method = 'GET'): SignTarget {
  return { method, url: new URL(url), headers: {} };
}

test('xfyun-hmac reproduces the public test vector', () => {
  const out = xfyunHmac({ apiKey: PUBLIC.apiKey, apiSecret: PUBLIC.apiSecret, host: PUBLIC.host, date: PUBLIC.date, method: 'GET', path: '/v2/iat' });
  assert.equal(out.signatureOrigin, 'host: iat-api.xfyun.cn\ndate: Wed, 10 Jul 2019 07:35:43 GMT\nGET /v2/iat HTTP/1.1');
  assert.equal(out.signature, PUBLIC.signature);
  assert.equal(
    Buffer.from(out.authorization, 'base64').toString(),
    `api_key="${PUBLIC.apiKey}", algorithm="hmac-sha256", headers="host date request-line", signature="${PUBLIC.signature}"`,
  );
});

test('applySigner puts the public vector into the URL as authorization, date and host', async () => {
  const t = target('wss://iat-api.xfyun.cn/v2/iat');
  const now = Date.parse(PUBLIC.date);
  const sign = signSchema.parse({ type: 'xfyun-hmac', api_key: '{{params.k}}', api_secret: '{{params.s}}' });
  assert.equal(await applySigner(sign, t, { vars: { params: { k: PUBLIC.apiKey, s: PUBLIC.apiSecret } }, now }), null);
  assert.equal(t.url.searchParams.get('date'), PUBLIC.date);
  assert.equal(t.url.searchParams.get('host'), PUBLIC.host);
  const auth = Buffer.from(t.url.searchParams.get('authorization')!, 'base64').toString();
  assert.match(auth, new RegExp(`signature="${PUBLIC.signature.replace(/[+/]/g, '\\$&')}"$`));
  // URL-encoded on the wire: the date's spaces and commas, the base64's + / =.
  assert.match(t.url.toString(), /&date=Wed%2C\+10\+Jul\+2019\+07%3A35%3A43\+GMT&host=iat-api\.xfyun\.cn$/);
});

test('xfyun-hmac: a second vector computed here from the specification text', async () => {
  // Every input differs from the public vector: key, secret, host with a port, date, path.
  const apiKey = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const apiSecret = 'ZmFrZS1zZWNyZXQtZm9yLXRlc3Rpbmc=';
  const host = 'tts-api.example.test:8443';
  const date = 'Fri, 29 Feb 2036 23:59:59 GMT';
  const origin = ['host: ' + host, 'date: ' + date, 'GET /v2/tts HTTP/1.1'].join('\n');
  const signature = createHmac('sha256', Buffer.from(apiSecret, 'utf8')).update(Buffer.from(origin, 'utf8')).digest().toString('base64');
  const authorization = Buffer.from(
    'api_key="' + apiKey + '", algorithm="hmac-sha256", headers="host date request-line", signature="' + signature + '"',
  ).toString('base64');

  const direct = xfyunHmac({ apiKey, apiSecret, host, date, method: 'get', path: '/v2/tts' });
  assert.equal(direct.signature, signature);
  assert.equal(direct.authorization, authorization);

  // Through the config path: host and date taken from the URL and the clock.
  const t = target('wss://tts-api.example.test:8443/v2/tts?keep=1');
  const sign = signSchema.parse({ type: 'xfyun-hmac', api_key: apiKey, api_secret: apiSecret });
  assert.equal(await applySigner(sign, t, { vars: {}, now: Date.parse(date) }), null);
  assert.equal(t.url.searchParams.get('authorization'), authorization);
  assert.equal(t.url.searchParams.get('host'), host);
  assert.equal(t.url.searchParams.get('keep'), '1');
});

test('xfyun-hmac overrides: date offset (signed durations), host, wrong key/secret are just other values', async () => {
  assert.equal(rfc1123(Date.UTC(2019, 6, 10, 7, 35, 43)), PUBLIC.date);
  const sign = signSchema.parse({ type: 'xfyun-hmac', api_key: 'k', api_secret: 's', date_offset: '-10m', host: 'signed.example' });
  assert.equal(sign.type === 'xfyun-hmac' && sign.date_offset, -600_000);
  const t = target('ws://127.0.0.1:9/v2/iat');
  const now = Date.parse(PUBLIC.date);
  await applySigner(sign, t, { vars: {}, now });
  assert.equal(t.url.searchParams.get('date'), 'Wed, 10 Jul 2019 07:25:43 GMT');
  assert.equal(t.url.searchParams.get('host'), 'signed.example');
  const plus = signSchema.parse({ type: 'xfyun-hmac', api_key: 'k', api_secret: 's', date_offset: '+30s' });
  assert.equal(plus.type === 'xfyun-hmac' && plus.date_offset, 30_000);
  assert.equal(signSchema.safeParse({ type: 'xfyun-hmac', api_key: 'k', api_secret: 's', date_offset: '-ten' }).success, false);
});

test('xfyun-checksum: X-Appid, X-CurTime, X-Param (base64 JSON), X-CheckSum = md5(key + time + param)', async () => {
  assert.equal(xfyunChecksum('k', '1', 'p'), createHash('md5').update('k1p').digest('hex'));
  const now = 1_700_000_000_123;
  const t = target('https://webapi.xfyun.cn/v1/service/v1/ocr/general', 'POST');
  const sign = signSchema.parse({ type: 'xfyun-checksum', api_key: '{{params.k}}', param: { language: 'en', app: '{{app_id}}' } });
  assert.equal(await applySigner(sign, t, { vars: { app_id: 'app1', params: { k: 'key-1' } }, now }), null);
  const xParam = Buffer.from('{"language":"en","app":"app1"}').toString('base64');
  assert.deepEqual(t.headers, {
    'x-appid': 'app1',
    'x-curtime': '1700000000',
    'x-param': xParam,
    'x-checksum': createHash('md5').update(`key-11700000000${xParam}`).digest('hex'),
  });
  assert.match(t.headers['x-checksum'], /^[0-9a-f]{32}$/);
});

test('basic, bearer and session signers; an unknown template name is a reason, not a throw', async () => {
  const b = target('https://x.test/');
  await applySigner(signSchema.parse({ type: 'basic', username: 'u', password: '{{params.p}}' }), b, { vars: { params: { p: 'pw' } }, now: 0 });
  assert.equal(b.headers.authorization, `Basic ${Buffer.from('u:pw').toString('base64')}`);
  const t = target('https://x.test/');
  await applySigner(signSchema.parse({ type: 'bearer', token: 'tok' }), t, { vars: {}, now: 0 });
  assert.equal(t.headers.authorization, 'Bearer tok');

  const s = target('https://x.test/a');
  const session = async () => ({ headers: { Cookie: 'sso=abc' }, query: { token: 't1' } });
  assert.equal(await applySigner({ type: 'session' }, s, { vars: {}, now: 0, session }), null);
  assert.equal(s.headers.cookie, 'sso=abc');
  assert.equal(s.url.searchParams.get('token'), 't1');
  assert.match((await applySigner({ type: 'session' }, s, { vars: {}, now: 0, session: async () => 'login failed: 503' }))!, /login failed: 503/);
  assert.match((await applySigner({ type: 'session' }, s, { vars: {}, now: 0 }))!, /no platform session/);

  const missing = await applySigner(signSchema.parse({ type: 'bearer', token: '{{params.nope}}' }), target('https://x.test/'), { vars: { params: {} }, now: 0 });
  assert.equal(missing, 'sign bearer: unknown template variable {{params.nope}}');
});

test('redactUrl hides credential-bearing query values', () => {
  assert.equal(redactUrl('wss://h/v2/iat?authorization=abc&date=d&host=h'), 'wss://h/v2/iat?authorization=%3Credacted%3E&date=d&host=h');
  assert.equal(redactUrl('not a url'), 'not a url');
});
