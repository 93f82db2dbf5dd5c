// Web authorization decided per access level, without the rest of the exporter: every combination of
// configured credentials (none, bearer token, basic user, a web config file's bcrypt users) against
// every level, the challenge a refused caller gets, and the guard over real HTTP on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import bcrypt from 'bcryptjs';
import express from 'express';
import pino from 'pino';
import { authorize, guard, identify, type Access, type Credentials } from '../src/web/auth.js';
import { WebConfigFile } from '../src/web/webconfig.js';
import type { WebConfig } from '../src/config/schema.js';

const TOKEN = 'admin-token-7f3a';
const USER = 'viewer';
const PASSWORD = 'viewer-pass-91c2';
const FILE_USER = 'alice';
const FILE_PASSWORD = 'alice-pass:with-colon';
const BEARER = 'Bearer realm="patrol_exporter"';
const BASIC = 'Basic realm="patrol_exporter", charset="UTF-8"';

const basicHeader = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const web = (auth: WebConfig['auth'], metrics_auth: WebConfig['metrics_auth'] = 'same'): WebConfig => ({ auth, metrics_auth });

const dir = mkdtempSync(path.join(tmpdir(), 'patrol-auth-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function usersFile(users: Record<string, string>): WebConfigFile {
  const file = path.join(dir, `web-${Object.keys(users).length}.yml`);
  // Cost 4: the lowest bcrypt allows, so the test stays fast; the cost is not what is tested here.
  const lines = Object.entries(users).map(([u, p]) => `  ${u}: ${JSON.stringify(bcrypt.hashSync(p, 4))}`);
  writeFileSync(file, lines.length > 0 ? `basic_auth_users:\n${lines.join('\n')}\n` : 'basic_auth_users: {}\n');
  const loaded = WebConfigFile.load(file, pino({ level: 'silent' }));
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.error);
  return loaded.web;
}

const LEVELS: Access[] = ['public', 'scrape', 'viewer', 'admin'];

test('nothing configured: every level is open and every caller may do everything', async () => {
  for (const creds of [{ web: null }, { web: undefined }, { web: web({ bearer_token: '' }) }, { web: web({ bearer_token: '' }), users: usersFile({}) }] as Credentials[]) {
    for (const access of LEVELS) {
      for (const header of [undefined, 'Bearer wrong', basicHeader('x', 'y')]) {
        assert.deepEqual(await authorize(creds, access, header), { ok: true, caller: 'admin' }, `${access} ${header}`);
      }
    }
  }
});

test('bearer token only: the token is admin, anyone else is refused with a Bearer challenge; public stays open', async () => {
  const creds: Credentials = { web: web({ bearer_token: TOKEN }) };
  assert.deepEqual(await authorize(creds, 'public', undefined), { ok: true, caller: 'anonymous' });
  for (const access of ['scrape', 'viewer', 'admin'] as Access[]) {
    assert.deepEqual(await authorize(creds, access, `Bearer ${TOKEN}`), { ok: true, caller: 'admin' }, access);
    for (const header of [undefined, '', 'Bearer nope', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Token ${TOKEN}`, basicHeader('admin', TOKEN), TOKEN]) {
      assert.deepEqual(await authorize(creds, access, header), { ok: false, challenge: BEARER }, `${access} ${header}`);
    }
  }
});

test('metrics_auth none opens the scrape level only', async () => {
  const creds: Credentials = { web: web({ bearer_token: TOKEN }, 'none') };
  assert.deepEqual(await authorize(creds, 'scrape', undefined), { ok: true, caller: 'anonymous' });
  assert.deepEqual(await authorize(creds, 'viewer', undefined), { ok: false, challenge: BEARER });
  assert.deepEqual(await authorize(creds, 'admin', undefined), { ok: false, challenge: BEARER });
  const same: Credentials = { web: web({ bearer_token: TOKEN }, 'same') };
  assert.deepEqual(await authorize(same, 'scrape', undefined), { ok: false, challenge: BEARER });
});

test('basic user only: a viewer, and the highest level there is; others get a Basic challenge (a login box)', async () => {
  const creds: Credentials = { web: web({ bearer_token: '', basic: { username: USER, password: PASSWORD } }) };
  for (const access of ['scrape', 'viewer', 'admin'] as Access[]) {
    assert.deepEqual(await authorize(creds, access, basicHeader(USER, PASSWORD)), { ok: true, caller: 'viewer' }, access);
    for (const header of [undefined, basicHeader(USER, 'wrong'), basicHeader('other', PASSWORD), basicHeader(USER, ''), 'Bearer anything']) {
      assert.deepEqual(await authorize(creds, access, header), { ok: false, challenge: BASIC }, `${access} ${header}`);
    }
  }
  assert.deepEqual(await authorize(creds, 'public', undefined), { ok: true, caller: 'anonymous' });
});

test('token and basic user: viewers read, only the token acts; the refusal offers what the level needs', async () => {
  const creds: Credentials = { web: web({ bearer_token: TOKEN, basic: { username: USER, password: PASSWORD } }) };
  assert.deepEqual(await authorize(creds, 'viewer', basicHeader(USER, PASSWORD)), { ok: true, caller: 'viewer' });
  assert.deepEqual(await authorize(creds, 'viewer', `Bearer ${TOKEN}`), { ok: true, caller: 'admin' });
  assert.deepEqual(await authorize(creds, 'admin', `Bearer ${TOKEN}`), { ok: true, caller: 'admin' });
  assert.deepEqual(await authorize(creds, 'admin', basicHeader(USER, PASSWORD)), { ok: false, challenge: BEARER });
  assert.deepEqual(await authorize(creds, 'admin', undefined), { ok: false, challenge: BEARER });
  // A page: basic auth is configured, so the browser is offered a login box.
  assert.deepEqual(await authorize(creds, 'viewer', undefined), { ok: false, challenge: BASIC });
});

test("the web config file's bcrypt users are viewers; an empty users list configures nothing", async () => {
  const users = usersFile({ [FILE_USER]: FILE_PASSWORD, bob: 'bob-pass-0000' });
  const creds: Credentials = { web: web({ bearer_token: '' }), users };
  assert.deepEqual(await authorize(creds, 'viewer', basicHeader(FILE_USER, FILE_PASSWORD)), { ok: true, caller: 'viewer' });
  assert.deepEqual(await authorize(creds, 'admin', basicHeader('bob', 'bob-pass-0000')), { ok: true, caller: 'viewer' });
  assert.deepEqual(await authorize(creds, 'viewer', basicHeader(FILE_USER, 'alice-pass')), { ok: false, challenge: BASIC });
  assert.deepEqual(await authorize(creds, 'viewer', basicHeader('bob', FILE_PASSWORD)), { ok: false, challenge: BASIC });
  assert.deepEqual(await authorize(creds, 'viewer', undefined), { ok: false, challenge: BASIC });
  // With a token too, the file's users still read and the token still acts.
  const both: Credentials = { web: web({ bearer_token: TOKEN }), users };
  assert.deepEqual(await authorize(both, 'viewer', basicHeader(FILE_USER, FILE_PASSWORD)), { ok: true, caller: 'viewer' });
  assert.deepEqual(await authorize(both, 'admin', basicHeader(FILE_USER, FILE_PASSWORD)), { ok: false, challenge: BEARER });
  // The config's basic user and the file's users both work at once.
  const mixed: Credentials = { web: web({ bearer_token: '', basic: { username: USER, password: PASSWORD } }), users };
  assert.equal(await identify(mixed, basicHeader(USER, PASSWORD)), 'viewer');
  assert.equal(await identify(mixed, basicHeader(FILE_USER, FILE_PASSWORD)), 'viewer');
  assert.equal(await identify(mixed, basicHeader(USER, FILE_PASSWORD)), 'anonymous');
  // A users file with no user is not consulted, whatever its verify() would say.
  const none = usersFile({});
  assert.equal(none.active, false);
  assert.equal(await identify({ web: web({ bearer_token: TOKEN }), users: none }, basicHeader('x', 'y')), 'anonymous');
});

test('identify: header spellings', async () => {
  const creds: Credentials = { web: web({ bearer_token: TOKEN, basic: { username: USER, password: PASSWORD } }) };
  const cases: [string | undefined, string][] = [
    [`Bearer ${TOKEN}`, 'admin'],
    [`bearer ${TOKEN}`, 'admin'],
    [`BEARER   ${TOKEN}  `, 'admin'],
    [`Bearer ${TOKEN} extra`, 'anonymous'],
    [`Bearer${TOKEN}`, 'anonymous'],
    [` Bearer ${TOKEN}`, 'anonymous'],
    [`xBearer ${TOKEN}`, 'anonymous'],
    [basicHeader(USER, PASSWORD), 'viewer'],
    [basicHeader(USER, PASSWORD).toLowerCase().slice(0, 6) + basicHeader(USER, PASSWORD).slice(6), 'viewer'],
    [`${basicHeader(USER, PASSWORD)}  `, 'viewer'],
    [`Basic   ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`, 'viewer'],
    [`Basic${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`, 'anonymous'],
    [`${basicHeader(USER, PASSWORD)} x`, 'anonymous'],
    [`x${basicHeader(USER, PASSWORD)}`, 'anonymous'],
    [`Basic ${Buffer.from(`${USER}${PASSWORD}`).toString('base64')}`, 'anonymous'],
    [`Basic ${Buffer.from(`${USER}:${PASSWORD}:`).toString('base64')}`, 'anonymous'],
    [`Basic ${Buffer.from(`:${USER}:${PASSWORD}`).toString('base64')}`, 'anonymous'],
    [basicHeader(USER, `${PASSWORD}x`), 'anonymous'],
    [basicHeader(`${USER}x`, PASSWORD), 'anonymous'],
    ['Basic !!!!', 'anonymous'],
    [undefined, 'anonymous'],
    ['', 'anonymous'],
  ];
  for (const [header, caller] of cases) assert.equal(await identify(creds, header), caller, String(header));
  // A password with a colon: only the first colon separates the user name.
  const colon: Credentials = { web: web({ bearer_token: '', basic: { username: USER, password: 'a:b:c' } }) };
  assert.equal(await identify(colon, basicHeader(USER, 'a:b:c')), 'viewer');
  assert.equal(await identify(colon, basicHeader(USER, 'a')), 'anonymous');
  // No token configured: no bearer header makes an admin.
  const noToken: Credentials = { web: web({ bearer_token: '', basic: { username: USER, password: PASSWORD } }) };
  assert.equal(await identify(noToken, 'Bearer x'), 'anonymous');
});

test('the guard over HTTP: 401 with the challenge, no-store and a plain body; credentials read on every request', async () => {
  let creds: Credentials = { web: web({ bearer_token: TOKEN }) };
  const app = express();
  for (const access of LEVELS) app.get(`/${access}`, guard(access, () => creds), (_req, res) => void res.type('text/plain').send(`in ${access}\n`));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const refused = await fetch(`${base}/viewer`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), BEARER);
    assert.equal(refused.headers.get('cache-control'), 'no-store');
    assert.match(refused.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await refused.text(), 'Unauthorized.\n');

    const admitted = await fetch(`${base}/admin`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(admitted.status, 200);
    assert.equal(await admitted.text(), 'in admin\n');
    const open = await fetch(`${base}/public`);
    assert.equal(open.status, 200);
    assert.equal(await open.text(), 'in public\n');

    // A reload that changes the token takes effect on the next request.
    creds = { web: web({ bearer_token: 'another-token-1234' }) };
    assert.equal((await fetch(`${base}/admin`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
    assert.equal((await fetch(`${base}/admin`, { headers: { authorization: 'Bearer another-token-1234' } })).status, 200);
    creds = { web: web({ bearer_token: '', basic: { username: USER, password: PASSWORD } }) };
    const login = await fetch(`${base}/viewer`);
    assert.equal(login.status, 401);
    assert.equal(login.headers.get('www-authenticate'), BASIC);
    assert.equal((await fetch(`${base}/viewer`, { headers: { authorization: basicHeader(USER, PASSWORD) } })).status, 200);
  } finally {
    // fetch keeps its connections alive: close them, or close() waits for their idle timeout.
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('only a web config file (no patrol web section): its users are checked, and the scrape level needs them', async () => {
  const users = usersFile({ [FILE_USER]: FILE_PASSWORD, '': 'empty-name-pass' });
  for (const w of [null, undefined]) {
    const creds: Credentials = { web: w, users };
    assert.equal(await identify(creds, basicHeader(FILE_USER, FILE_PASSWORD)), 'viewer');
    assert.equal(await identify(creds, `Bearer ${FILE_PASSWORD}`), 'anonymous');
    assert.deepEqual(await authorize(creds, 'scrape', undefined), { ok: false, challenge: BASIC });
    assert.deepEqual(await authorize(creds, 'scrape', basicHeader(FILE_USER, FILE_PASSWORD)), { ok: true, caller: 'viewer' });
    // The file allows an empty user name: the colon right at the start still separates it.
    assert.equal(await identify(creds, basicHeader('', 'empty-name-pass')), 'viewer');
  }
});

test('basic credentials without a colon are no credentials, even when the text would split into a valid pair', async () => {
  // "viewer": dropping the colon check would read user "viewe" (all but the last character) and
  // password "viewer" (everything).
  const creds: Credentials = { web: web({ bearer_token: '', basic: { username: 'viewe', password: 'viewer' } }) };
  assert.equal(await identify(creds, basicHeader('viewe', 'viewer')), 'viewer');
  assert.equal(await identify(creds, `Basic ${Buffer.from('viewer').toString('base64')}`), 'anonymous');
});
