// One copy of what services share (src/config/share.ts): equal parts of a loaded config are one
// frozen object, in this thread and in the round thread's structured clone; the values are the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shareAlike } from '../src/config/share.js';
import { parseConfig } from '../src/config/load.js';
import { ocrConfig } from './helpers/harness.js';

test('equal parts become one frozen object; the value is the same as before', () => {
  const input = {
    a: { call: { url: 'http://x/{{id}}', headers: {}, expect: [200, 201] }, n: 1 },
    b: { call: { url: 'http://x/{{id}}', headers: {}, expect: [200, 201] }, n: 2 },
    c: { call: { url: 'http://x/{{id}}', headers: {}, expect: [200] }, n: 2 },
  };
  const out = shareAlike(input);
  assert.deepEqual(out, input);
  assert.notEqual(out, input, 'a new value: the input is left as it was');
  assert.equal(out.a.call, out.b.call);
  assert.notEqual(out.a.call, out.c.call, 'a different list is a different part');
  assert.equal(out.a.call.headers, out.c.call.headers, 'the empty defaults are one object');
  assert.ok(Object.isFrozen(out.a.call) && Object.isFrozen(out.a.call.expect) && Object.isFrozen(out));
  assert.throws(() => {
    (out.a.call as { url: string }).url = 'changed';
  }, TypeError);
  assert.equal(out.b.call.url, 'http://x/{{id}}');
  assert.ok(!Object.isFrozen(input.a.call), 'the input is not frozen');
});

test('only equal content is shared: types, signs, key order and null prototypes are kept apart', () => {
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 1 });
  const out = shareAlike({ s: { v: '1' }, n: { v: 1 }, neg: { v: -0 }, zero: { v: 0 }, ab: { a: 1, b: 2 }, ba: { b: 2, a: 1 }, bare, plain: { k: 1 }, u: { v: undefined }, nul: { v: null } });
  assert.notEqual(out.s, out.n);
  assert.notEqual(out.neg, out.zero);
  assert.ok(Object.is(out.neg.v, -0));
  assert.notEqual(out.ab, out.ba);
  assert.deepEqual(Object.keys(out.ba), ['b', 'a']);
  assert.notEqual(out.bare, out.plain);
  assert.equal(Object.getPrototypeOf(out.bare), null);
  assert.notEqual(out.u, out.nul);
  assert.ok('v' in out.u);
  // Lists are told apart item by item, and an item that is -0 is an item.
  const lists = shareAlike({ a: [1, 2], b: [12], c: [-0], d: [] as number[] });
  assert.notEqual(lists.a, lists.b);
  assert.notEqual(lists.c, lists.d);
  assert.equal(lists.c.length, 1);
});

test('every kind of plain value is shared when equal: booleans, null, undefined, null-prototype objects', () => {
  const bare = () => Object.assign(Object.create(null) as Record<string, unknown>, { k: 'v' });
  const out = shareAlike({ t1: { on: true }, t2: { on: true }, n1: { v: null }, n2: { v: null }, u1: { v: undefined }, u2: { v: undefined }, b1: bare(), b2: bare() });
  assert.equal(out.t1, out.t2);
  assert.equal(out.n1, out.n2);
  assert.equal(out.u1, out.u2);
  assert.equal(out.b1, out.b2);
  assert.equal(Object.getPrototypeOf(out.b1), null);
  assert.ok(Object.isFrozen(out.b1));
});

test('a value that is not plain data is kept as it is, and what holds it is never shared nor frozen', () => {
  class Matcher {
    constructor(readonly re: RegExp) {}
  }
  const when = new Date(0);
  const m = new Matcher(/x/);
  const fn = () => 1;
  const out = shareAlike({ a: { when, tag: 'same' }, b: { when, tag: 'same' }, c: { m, list: [fn] }, d: { m, list: [fn] }, e: { tag: 'same!' }, f: { tag: 'same!' } });
  assert.equal(out.a.when, when);
  assert.equal(out.c.m, m);
  assert.equal(out.c.list[0], fn);
  assert.notEqual(out.a, out.b);
  assert.notEqual(out.c, out.d);
  assert.notEqual(out.c.list, out.d.list);
  assert.ok(!Object.isFrozen(out.a) && !Object.isFrozen(out.c.list) && !Object.isFrozen(out));
  assert.ok(!Object.isFrozen(m), "another's object is not frozen");
  assert.equal(out.e, out.f, 'a "!" in a string is content, not a mark');
});

test('a loaded config: services written alike share their calls, in the round thread\'s copy too', () => {
  const text = ocrConfig({ platformUrl: 'http://127.0.0.1:9' });
  const one = parseConfig(text, 'test').config;
  const [service] = one.services;
  // Two more services written from the same template, ids aside.
  const many = parseConfig(text.replace(/^services:\n/m, `services:\n${['svc-b', 'svc-c'].map((id) => yamlService(service, id)).join('')}`), 'test').config;
  const [b, c] = many.services.filter((s) => s.id === 'svc-b' || s.id === 'svc-c');
  assert.ok(b && c, many.services.map((s) => s.id).join(', '));
  assert.notEqual(b, c);
  assert.equal(b.calls, c.calls);
  assert.throws(() => {
    (b.calls as unknown[]).push({});
  }, TypeError);
  // What the round thread gets (postMessage is a structured clone): shared parts stay one object.
  const clone = structuredClone(many);
  const [cb, cc] = clone.services.filter((s) => s.id === 'svc-b' || s.id === 'svc-c');
  assert.equal(cb.calls, cc.calls);
  assert.deepEqual(clone, many);
});

/** A service as YAML (flow style), from a loaded one, under another id. */
function yamlService(s: { id: string } & Record<string, unknown>, id: string): string {
  return `  - ${JSON.stringify({ ...s, id, business_id: id })}\n`;
}
