// The assertion language on its own: status specs, JSON conditions, body regexes, the latency limit,
// and what each failure says (the value seen, redacted and cut). Plain data, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerMessage, checkJson, describeFailures, evaluate, jsonHolds, notJson, parseJson, statusMatches, withMessage } from '../src/expect.js';
import type { JsonAssertion } from '../src/config/schema.js';
import { REDACTED, Redactor } from '../src/redact.js';

const SECRET = 'sk-live-5d8e2f1a9c';
const redactor = new Redactor([SECRET]);
const redact = (t: string) => redactor.redact(t);
const none = (t: string) => t;
const a = (x: Partial<JsonAssertion> & { path: string }) => x as JsonAssertion;

test('statusMatches: exact codes and classes', () => {
  assert.equal(statusMatches(200, [200]), true);
  assert.equal(statusMatches(201, [200]), false);
  assert.equal(statusMatches(204, [200, 204]), true);
  assert.equal(statusMatches(204, ['2xx']), true);
  assert.equal(statusMatches(299, ['2xx']), true);
  assert.equal(statusMatches(300, ['2xx']), false);
  assert.equal(statusMatches(199, ['2xx']), false);
  assert.equal(statusMatches(404, ['2xx', 404]), true);
  assert.equal(statusMatches(500, ['2xx', 404]), false);
  assert.equal(statusMatches(200, []), false);
});

test('parseJson: a value, or what the body was instead', () => {
  assert.deepEqual(parseJson('{"a":1}'), { ok: true, value: { a: 1 } });
  assert.deepEqual(parseJson('  <html>'), { ok: false, got: 'HTML or XML' });
  assert.deepEqual(parseJson('<?xml version="1.0"?>'), { ok: false, got: 'HTML or XML' });
  assert.deepEqual(parseJson(''), { ok: false, got: 'an empty body' });
  assert.deepEqual(parseJson(' \n '), { ok: false, got: 'an empty body' });
  assert.deepEqual(parseJson('oops <b>'), { ok: false, got: 'text that is not JSON' });
});

test('notJson: the kind and the redacted beginning of the body', () => {
  assert.equal(notJson('an empty body', '  ', redact), 'an empty body');
  assert.equal(notJson('text that is not JSON', `bad ${SECRET}`, redact), `text that is not JSON: bad ${REDACTED}`);
  assert.equal(notJson('text that is not JSON', 'x'.repeat(130), none), `text that is not JSON: ${'x'.repeat(120)}… [10 more characters]`);
  assert.equal(notJson('text that is not JSON', 'abcdef', none, 3), 'text that is not JSON: abc… [3 more characters]');
});

test("answerMessage: the answer's own words at a path, redacted and cut; nothing when there are none", () => {
  const doc = { msg: `  token ${SECRET} expired  `, code: 401, empty: '  ', nil: null, obj: { a: 1 }, long: 'y'.repeat(200), f: false };
  assert.equal(answerMessage(doc, undefined, redact), undefined);
  assert.equal(answerMessage(doc, 'msg', redact), `token ${REDACTED} expired`);
  assert.equal(answerMessage(doc, 'code', redact), '401');
  assert.equal(answerMessage(doc, 'f', redact), 'false');
  assert.equal(answerMessage(doc, 'missing', redact), undefined);
  assert.equal(answerMessage(doc, 'empty', redact), undefined);
  assert.equal(answerMessage(doc, 'nil', redact), undefined);
  assert.equal(answerMessage(doc, 'obj', redact), undefined);
  assert.equal(answerMessage(doc, 'long', redact), `${'y'.repeat(160)}… [40 more characters]`);
});

test('withMessage leads with the message when there is one', () => {
  assert.equal(withMessage('status 401', undefined), 'status 401');
  assert.equal(withMessage('status 401', 'bad "key"'), 'the answer says "bad \\"key\\""; status 401');
  assert.equal(withMessage('status 401', ''), 'the answer says ""; status 401');
});

test('checkJson: exists, equals, not_equals and matches, with the value seen', () => {
  const doc = { code: 0, s: '0', name: 'ocr', n: null, list: [1, 2], key: SECRET, t: true };
  assert.deepEqual(checkJson(doc, [a({ path: 'code', exists: true }), a({ path: 'nope', exists: false })], redact), []);
  assert.deepEqual(checkJson(doc, [a({ path: 'nope', exists: true })], redact), [{ check: 'json nope', expected: 'present', actual: '(missing)' }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'code', exists: false })], redact), [{ check: 'json code', expected: 'absent', actual: '0' }]);
  // Numbers written as strings equal the number, and the other way round.
  assert.deepEqual(checkJson(doc, [a({ path: 'code', equals: 0 }), a({ path: 's', equals: 0 }), a({ path: 'code', equals: '0' }), a({ path: 'name', equals: 'ocr' }), a({ path: 't', equals: true })], redact), []);
  assert.deepEqual(checkJson(doc, [a({ path: 'code', equals: 1 })], redact), [{ check: 'json code', expected: '== 1', actual: '0' }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'name', equals: 'asr' })], redact), [{ check: 'json name', expected: '== "asr"', actual: '"ocr"' }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'n', equals: 0 })], redact), [{ check: 'json n', expected: '== 0', actual: 'null' }]);
  assert.deepEqual(checkJson({ s: ' ' }, [a({ path: 's', equals: 0 })], redact), [{ check: 'json s', expected: '== 0', actual: '" "' }]);
  assert.deepEqual(checkJson({ s: '1' }, [a({ path: 's', equals: 0 })], redact), [{ check: 'json s', expected: '== 0', actual: '"1"' }]);
  assert.deepEqual(checkJson({ n: 1 }, [a({ path: 'n', equals: '0' })], redact), [{ check: 'json n', expected: '== "0"', actual: '1' }]);
  assert.deepEqual(checkJson({ s: '' }, [a({ path: 's', equals: 0 })], redact).length, 1);
  assert.deepEqual(checkJson({ b: true }, [a({ path: 'b', equals: 'true' })], redact).length, 1);
  assert.deepEqual(checkJson({ b: 1 }, [a({ path: 'b', equals: true })], redact).length, 1);
  // A missing value never equals anything, even undefined-looking ones.
  assert.deepEqual(checkJson(doc, [a({ path: 'nope', equals: 'x' })], redact), [{ check: 'json nope', expected: '== "x"', actual: '(missing)' }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'code', not_equals: 1 }), a({ path: 'nope', not_equals: 0 })], redact), []);
  assert.deepEqual(checkJson(doc, [a({ path: 's', not_equals: 0 })], redact), [{ check: 'json s', expected: '!= 0', actual: '"0"' }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'name', matches: '^oc' }), a({ path: 'code', matches: '^0$' }), a({ path: 't', matches: 'true' })], redact), []);
  assert.deepEqual(checkJson(doc, [a({ path: 'name', matches: '^x' })], redact), [{ check: 'json name', expected: 'matches /^x/', actual: '"ocr"' }]);
  for (const path of ['nope', 'n', 'list']) assert.equal(checkJson(doc, [a({ path, matches: '.*' })], redact).length, 1, path);
  // The value seen is redacted, in every failure.
  assert.deepEqual(checkJson(doc, [a({ path: 'key', equals: 'other' })], redact), [{ check: 'json key', expected: '== "other"', actual: `"${REDACTED}"` }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'code', equals: SECRET })], redact), [{ check: 'json code', expected: `== "${REDACTED}"`, actual: '0' }]);
  assert.deepEqual(checkJson(doc, [a({ path: 'list', exists: false })], redact, 'frame'), [{ check: 'frame list', expected: 'absent', actual: '[1,2]' }]);
  // Long values are cut at 200 characters.
  const long = checkJson({ v: 'z'.repeat(300) }, [a({ path: 'v', equals: 'x' })], redact)[0].actual;
  assert.equal(long, `"${'z'.repeat(199)}… [102 more characters]`);
});

test('checkJson: numeric bounds, on numbers and numeric strings only', () => {
  const doc = { n: 5, s: '5', blank: ' ', word: 'five', nil: null };
  const ok = (x: Partial<JsonAssertion>) => checkJson(doc, [a({ path: 'n', ...x }), a({ path: 's', ...x })], none).length === 0;
  assert.equal(ok({ gt: 4 }), true);
  assert.equal(ok({ gt: 5 }), false);
  assert.equal(ok({ gte: 5 }), true);
  assert.equal(ok({ gte: 6 }), false);
  assert.equal(ok({ lt: 6 }), true);
  assert.equal(ok({ lt: 5 }), false);
  assert.equal(ok({ lte: 5 }), true);
  assert.equal(ok({ lte: 4 }), false);
  assert.deepEqual(checkJson(doc, [a({ path: 'n', gt: 5, lte: 4 })], none), [
    { check: 'json n', expected: '> 5', actual: '5' },
    { check: 'json n', expected: '<= 4', actual: '5' },
  ]);
  assert.deepEqual(checkJson(doc, [a({ path: 'n', gte: 6, lt: 5 })], none), [
    { check: 'json n', expected: '>= 6', actual: '5' },
    { check: 'json n', expected: '< 5', actual: '5' },
  ]);
  // Not a number: every bound fails, whichever way it points.
  for (const path of ['blank', 'word', 'nil', 'missing']) {
    assert.equal(checkJson(doc, [a({ path, gte: -1e9 })], none).length, 1, path);
    assert.equal(checkJson(doc, [a({ path, lte: 1e9 })], none).length, 1, path);
  }
});

test('jsonHolds decides without showing anything', () => {
  assert.equal(jsonHolds({ code: 0 }, [a({ path: 'code', equals: 0 })]), true);
  assert.equal(jsonHolds({ code: 1 }, [a({ path: 'code', equals: 0 })]), false);
  assert.equal(jsonHolds({}, []), true);
});

test('evaluate: every unmet expectation of one answer, in order, with what was seen', () => {
  const body = JSON.stringify({ code: 1, token: SECRET });
  const failures = evaluate(
    { status: [200, '3xx'], json: [a({ path: 'code', equals: 0 })], body_regex: '"ok"', body_not_regex: 'token', max_duration: 100 },
    { status: 500, body, durationMs: 150.4 },
    redact,
  );
  const shown = body.replace(SECRET, REDACTED);
  assert.deepEqual(failures, [
    { check: 'status', expected: '200 or 3xx', actual: '500' },
    { check: 'json code', expected: '== 0', actual: '1' },
    { check: 'body', expected: 'matches /"ok"/', actual: shown },
    { check: 'body', expected: 'does not match /token/', actual: shown },
    { check: 'duration', expected: '<= 100ms', actual: '150ms' },
  ]);
  assert.equal(
    describeFailures(failures.slice(0, 2)),
    'status: expected 200 or 3xx, got 500; json code: expected == 0, got 1',
  );
  assert.equal(describeFailures([]), '');
});

test('evaluate: everything met is no failure; limits are inclusive', () => {
  const body = '{"code":0}';
  assert.deepEqual(evaluate({ status: ['2xx'], json: [a({ path: 'code', equals: 0 })], body_regex: 'code', body_not_regex: 'error', max_duration: 100 }, { status: 204, body, durationMs: 100 }, redact), []);
  assert.deepEqual(evaluate({}, { status: 500, body: 'anything', durationMs: 1e6 }, redact), []);
  // No status seen (a WebSocket frame, a script): the status expectation does not apply.
  assert.deepEqual(evaluate({ status: [200] }, { body, durationMs: 1 }, redact), []);
  assert.deepEqual(evaluate({ json: [] }, { body: 'not json', durationMs: 1 }, redact), []);
  assert.deepEqual(evaluate({ max_duration: 100 }, { body, durationMs: 100.6 }, redact), [{ check: 'duration', expected: '<= 100ms', actual: '101ms' }]);
});

test('evaluate: JSON expectations against a body that is not JSON fail once, saying so, redacted and cut', () => {
  const body = `Forbidden ${SECRET} ${'x'.repeat(200)}`;
  const failures = evaluate({ json: [a({ path: 'a', exists: true }), a({ path: 'b', equals: 1 })] }, { status: 403, body, durationMs: 1 }, redact);
  assert.equal(failures.length, 1);
  assert.equal(failures[0].check, 'json');
  assert.equal(failures[0].expected, 'a JSON body');
  assert.ok(failures[0].actual.startsWith(`text that is not JSON: Forbidden ${REDACTED} xxx`), failures[0].actual);
  assert.ok(failures[0].actual.endsWith('more characters]'), failures[0].actual);
  assert.ok(!failures[0].actual.includes(SECRET.slice(0, 6)));
  // The body excerpt of a regex failure is cut at 200 characters.
  const [regex] = evaluate({ body_regex: '^$' }, { body: 'q'.repeat(250), durationMs: 1 }, redact);
  assert.equal(regex.actual, `${'q'.repeat(200)}… [50 more characters]`);
  const [not] = evaluate({ body_not_regex: 'q' }, { body: 'q'.repeat(250), durationMs: 1 }, redact);
  assert.equal(not.actual, `${'q'.repeat(200)}… [50 more characters]`);
});
