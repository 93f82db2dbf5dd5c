// How a round starts its services: as request slots free up, not all at once (each started service
// holds its state until judged), while a service waiting for metering holds no slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from '../src/engine/limit.js';
import { inspectorFor, withSim } from './helpers/harness.js';

/** N services of one call each, every one on a counter of its own (sim service s0, s1, …). */
function manyServices(n: number, o: { concurrency: number; pollMs: number; settleMs: number }): string {
  const services = Array.from({ length: n }, (_, i) => `
  - id: s${i}
    app_id: 5f3a9c01
    business_id: s${i}
    calls:
      - name: call
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/s${i}"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: demo-api-key-0001 }
          json: { text: "abc" }
        expect: { status: 200, json: [{ path: code, equals: 0 }] }`).join('');
  return `
global:
  schedule: "0 0 1 1 *"
  run_on_start: false
  concurrency: ${o.concurrency}
  round_timeout: 120s
  call_timeout: 10s
  settle: { timeout: ${o.settleMs}ms, poll_interval: ${o.pollMs}ms, confirm_reads: 0 }
vars:
  platform_url: http://127.0.0.1:1
platforms:
  console:
    login:
      http:
        method: POST
        url: "{{vars.platform_url}}/console/login"
        json: { username: demo, password: demo-password }
      expect: { status: 200, json: [{ path: code, equals: 0 }] }
      extract: { sso: data.ssoSessionId }
    session:
      headers: { Cookie: "ssoSessionId={{session.sso}}" }
    counter:
      http:
        url: "{{vars.platform_url}}/console/usage"
        query: { appid: "{{app_id}}", service: "{{business_id}}" }
      expect: { json: [{ path: code, equals: 0 }] }
      value: data.usedCount
services:${services}
`;
}

test('semaphore: free() counts idle slots, whenFree() waits for one with nobody queued', async () => {
  const slots = new Semaphore(2);
  assert.equal(slots.free(), 2);
  let releaseA!: () => void;
  let releaseB!: () => void;
  const a = slots.run(() => new Promise<void>((r) => (releaseA = r)));
  const b = slots.run(() => new Promise<void>((r) => (releaseB = r)));
  const c = slots.run(async () => undefined);
  assert.equal(slots.free(), 0);
  let freed = false;
  const waiting = slots.whenFree().then(() => (freed = true));
  releaseA();
  await a;
  await c;
  // A's slot went to the queued C (which finished at once and gave it back): now one is free.
  await waiting;
  assert.equal(freed, true);
  assert.equal(slots.free(), 1);
  releaseB();
  await b;
  assert.equal(slots.free(), 2);
  await slots.whenFree();
});

test('a round starts services as slots free up: the last starts after the first is judged', async () => {
  const names = Array.from({ length: 40 }, (_, i) => `s${i}`);
  await withSim({ lagMs: 0, services: names }, async (sim) => {
    const { inspector } = inspectorFor(manyServices(40, { concurrency: 2, pollMs: 20, settleMs: 2000 }), sim);
    try {
      const r = await inspector.runRound({ trigger: 'cli' });
      assert.deepEqual(r.services.map((s) => s.serviceId), names, 'results in config order');
      assert.ok(r.services.every((s) => s.verdict === 'ok'), r.services.map((s) => s.reason).join(' | '));
      const first = r.services[0];
      const last = r.services[39];
      // Started all at once, every service starts before any is judged.
      assert.ok(last.startedAt >= first.finishedAt, `s39 started at +${last.startedAt - first.startedAt} ms, s0 judged at +${first.finishedAt - first.startedAt} ms`);
    } finally {
      await inspector.close();
    }
  });
});

test('a service waiting for metering holds no slot: the next one starts meanwhile', async () => {
  const names = ['s0', 's1', 's2'];
  await withSim({ lagMs: 400, services: names }, async (sim) => {
    const { inspector } = inspectorFor(manyServices(3, { concurrency: 1, pollMs: 50, settleMs: 5000 }), sim);
    try {
      const r = await inspector.runRound({ trigger: 'cli' });
      assert.ok(r.services.every((s) => s.verdict === 'ok'), r.services.map((s) => s.reason).join(' | '));
      const [s0, s1, s2] = r.services;
      // One slot, yet the services overlap: each waits for its 400 ms lag without the slot.
      assert.ok(s1.startedAt < s0.finishedAt, `s1 started ${s1.startedAt - s0.finishedAt} ms after s0 was judged`);
      assert.ok(s2.startedAt < s1.finishedAt, `s2 started ${s2.startedAt - s1.finishedAt} ms after s1 was judged`);
    } finally {
      await inspector.close();
    }
  });
});
