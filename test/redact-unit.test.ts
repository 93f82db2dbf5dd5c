// The Redactor and excerpt() on their own: every form a secret travels in, run-time secrets kept and
// forgotten, a secret cut at the end of a text, headers, and excerpts that never split a marker.
// Plain strings, no network: the probes' own redaction is tested against real servers elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { excerpt, MAX_LEARNT, REDACTED, Redactor } from '../src/redact.js';

const SECRET = 'p@ss "w/rd" 42';

test('every form of a config secret is redacted: as is, URL-encoded, JSON-escaped, base64', () => {
  const r = new Redactor([SECRET]);
  const forms = [SECRET, encodeURIComponent(SECRET), JSON.stringify(SECRET).slice(1, -1), Buffer.from(SECRET).toString('base64').replace(/=+$/, '')];
  assert.equal(new Set(forms).size, 4);
  assert.equal(r.size, 4);
  for (const f of forms) assert.equal(r.redact(`a ${f} b ${f}`), `a ${REDACTED} b ${REDACTED}`, f);
  // base64 with its padding: the padding stays, the secret does not.
  assert.equal(r.redact(Buffer.from(SECRET).toString('base64')), `${REDACTED}=`);
  assert.equal(r.redact('nothing secret here'), 'nothing secret here');
});

test('a redactor made without secrets has nothing to search', () => {
  const r = new Redactor();
  assert.equal(r.size, 0);
  assert.equal(r.learntCount, 0);
});

test('values shorter than 4 characters are not secrets; a value whose forms coincide counts once', () => {
  // "ab" and "xy": every form, base64 too ("YWI", "eHk"), is shorter than 4.
  const r = new Redactor(['ab', 'xy']);
  assert.equal(r.size, 0);
  assert.equal(r.redact('ab xy YWI'), 'ab xy YWI');
  // "abcd": as is, URL-encoded and JSON-escaped are the same; base64 "YWJjZA" is another.
  const s = new Redactor(['abcd']);
  assert.equal(s.size, 2);
  assert.equal(s.redact('abcd YWJjZA'), `${REDACTED} ${REDACTED}`);
  // A 3-byte value has a 4-character base64 form, which is kept.
  const t = new Redactor(['xyz']);
  assert.equal(t.size, 1);
  assert.equal(t.redact('eHl6 xyz'), `${REDACTED} xyz`);
});

test('a secret containing another is replaced whole, whichever was added first', () => {
  for (const order of [['token-1234', 'token-1234-extended'], ['token-1234-extended', 'token-1234']]) {
    const r = new Redactor(order);
    assert.equal(r.redact('x token-1234-extended y token-1234 z'), `x ${REDACTED} y ${REDACTED} z`, order.join(','));
  }
});

test('add() of a known secret changes nothing; a new one is redacted from then on', () => {
  const r = new Redactor(['first-secret']);
  const size = r.size;
  r.add('first-secret');
  assert.equal(r.size, size);
  assert.equal(r.redact('second-secret'), 'second-secret');
  r.add('second-secret');
  assert.equal(r.redact('second-secret first-secret'), `${REDACTED} ${REDACTED}`);
  assert.equal(r.learntCount, 0);
});

test('learnt secrets: redacted until forgotten; the oldest go past the limit; learning again makes one the newest', () => {
  const r = new Redactor(['config-secret'], 2);
  const base = r.size;
  r.learn('ab');
  assert.equal(r.learntCount, 0, 'too short to be a secret');
  r.learn('token-aaaa');
  r.learn('token-bbbb');
  assert.equal(r.learntCount, 2);
  assert.equal(r.redact('token-aaaa token-bbbb'), `${REDACTED} ${REDACTED}`);
  // Learnt again: now the newest, so the next one pushes token-bbbb out.
  r.learn('token-aaaa');
  assert.equal(r.learntCount, 2);
  r.learn('token-cccc');
  assert.equal(r.learntCount, 2);
  assert.equal(r.redact('token-aaaa token-bbbb token-cccc'), `${REDACTED} token-bbbb ${REDACTED}`);
  r.forget('token-aaaa');
  assert.equal(r.learntCount, 1);
  assert.equal(r.redact('token-aaaa token-cccc'), `token-aaaa ${REDACTED}`);
  // Config secrets are never forgotten, and forgetting an unknown value changes nothing.
  r.forget('config-secret');
  r.forget('never-learnt');
  assert.equal(r.redact('config-secret'), REDACTED);
  r.forget('token-cccc');
  assert.equal(r.learntCount, 0);
  assert.equal(r.size, base);
  assert.equal(r.redact('token-cccc'), 'token-cccc');
});

test('a learnt secret that is also a config secret stays redacted after it is forgotten', () => {
  const r = new Redactor(['shared-value']);
  r.learn('shared-value');
  r.forget('shared-value');
  assert.equal(r.redact('shared-value'), REDACTED);
});

test('the default limit keeps MAX_LEARNT run-time secrets', () => {
  const r = new Redactor();
  for (let i = 0; i <= MAX_LEARNT; i++) r.learn(`session-${String(i).padStart(4, '0')}`);
  assert.equal(r.learntCount, MAX_LEARNT);
  assert.equal(r.redact('session-0000'), 'session-0000');
  assert.equal(r.redact('session-0001'), REDACTED);
  assert.equal(r.redact(`session-${String(MAX_LEARNT).padStart(4, '0')}`), REDACTED);
});

test("redactCut hides a secret's beginning left at the very end", () => {
  const r = new Redactor(['ABCDEFGH']);
  assert.equal(r.redactCut('text ABC'), `text ${REDACTED}`);
  assert.equal(r.redactCut('text A'), `text ${REDACTED}`);
  assert.equal(r.redactCut('text ABCDEFG'), `text ${REDACTED}`);
  // The whole secret is redact()'s job; ordinary endings stay.
  assert.equal(r.redactCut('text ABCDEFGH'), `text ${REDACTED}`);
  assert.equal(r.redactCut('text ABCDEFGH!'), `text ${REDACTED}!`);
  assert.equal(r.redactCut('text ABx'), 'text ABx');
  assert.equal(r.redactCut('text'), 'text');
  assert.equal(r.redactCut(''), '');
  // The text is shorter than the secret's beginning it might hold.
  assert.equal(r.redactCut('ABC'), REDACTED);
  // The longest beginning wins, across secrets.
  const two = new Redactor(['XYZW-1', 'ZW-123456']);
  assert.equal(two.redactCut('abc XYZW-'), `abc ${REDACTED}`);
  assert.equal(two.redactCut('abc ZW-12'), `abc ${REDACTED}`);
  // The longer secret is searched first but has the shorter beginning here ("1234" against "Q-1234").
  const long = new Redactor(['1234-ZZZZ-ZZZZ', 'Q-12345']);
  assert.equal(long.redactCut('x Q-1234'), `x ${REDACTED}`);
  assert.equal(long.redactCut('x P-1234'), `x P-${REDACTED}`);
  const three = new Redactor(['QRST-0000', 'ST-0']);
  assert.equal(three.redactCut('abc QRST-'), `abc ${REDACTED}`);
  assert.equal(three.redactCut('abc QRS'), `abc ${REDACTED}`);
});

test('headers: credential headers are hidden whatever they hold, the others redacted by value', () => {
  const r = new Redactor(['sekrit-value']);
  const out = r.headers({
    Authorization: 'Bearer x',
    'proxy-authorization': 'Basic y',
    Cookie: 'a=b',
    'Set-Cookie': ['a=b', 'c=d'],
    'X-Api-Key': 'k',
    'x-checksum': 'c',
    'X-Auth-Token': 't',
    'X-Trace': 'id sekrit-value',
    Accept: ['text/html', 'application/json'],
    Missing: undefined,
    'X-Authorization-Hint': 'plain',
    'X-Not-Cookie': 'plain',
    'Cookie-Policy': 'plain',
  });
  assert.deepEqual(out, {
    Authorization: REDACTED,
    'proxy-authorization': REDACTED,
    Cookie: REDACTED,
    'Set-Cookie': REDACTED,
    'X-Api-Key': REDACTED,
    'x-checksum': REDACTED,
    'X-Auth-Token': REDACTED,
    'X-Trace': `id ${REDACTED}`,
    Accept: 'text/html, application/json',
    'X-Authorization-Hint': 'plain',
    'X-Not-Cookie': 'plain',
    'Cookie-Policy': 'plain',
  });
  assert.ok(!('Missing' in out));
  assert.deepEqual(r.headers({ 'x-list': ['sekrit-value', 'b'] }), { 'x-list': `${REDACTED}, b` });
});

test('excerpt: redacted, then cut, saying how much was left out', () => {
  const r = new Redactor(['SECRETVALUE']);
  const redact = (t: string) => r.redact(t);
  assert.equal(excerpt('short', 10, redact), 'short');
  assert.equal(excerpt('exactly10!', 10, redact), 'exactly10!');
  assert.equal(excerpt('eleven chars', 10, redact), 'eleven cha… [2 more characters]');
  // The secret straddles the cut: its beginning must not be left.
  assert.equal(excerpt('abcd SECRETVALUE tail', 8, redact), `abcd ${REDACTED}… [5 more characters]`);
  // The marker ends exactly at the cut: nothing to move.
  assert.equal(excerpt(`ab SECRETVALUE tail`, 3 + REDACTED.length, redact), `ab ${REDACTED}… [5 more characters]`);
  // The marker starts at the cut: cut before it.
  assert.equal(excerpt(`abc SECRETVALUE`, 4, redact), `abc … [${REDACTED.length} more characters]`);
  // A marker one character into the cut.
  assert.equal(excerpt(`abc SECRETVALUE`, 5, redact), `abc ${REDACTED}`);
  // The marker before the cut is left alone.
  assert.equal(excerpt(`SECRETVALUE and a long tail`, REDACTED.length + 5, redact), `${REDACTED} and … [11 more characters]`);
  // The method is the same thing with the redactor's own redact().
  assert.equal(r.excerpt('abcd SECRETVALUE tail', 8), `abcd ${REDACTED}… [5 more characters]`);
  // The text starts with a marker that is longer than the limit: the marker is kept whole.
  assert.equal(excerpt('SECRETVALUE and more', 5, redact), `${REDACTED}… [9 more characters]`);
  // Redaction shortens the text under the limit: no cut.
  assert.equal(excerpt('SECRETVALUE', 10, redact), REDACTED);
});
