// The round against the real simulated platform over HTTP: every fault gives its verdict and reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceFaults, GlobalFaults, Simulator } from '../src/sim/platform.js';
import { applyBaselines } from '../src/engine/baselines.js';
import type { CounterBaseline, RoundResult, ServiceResult, Verdict } from '../src/types.js';
import { inspectorFor, nlpService, ocrConfig, withSim, type ConfigKnobs } from './helpers/harness.js';

interface Case {
  name: string;
  faults?: ServiceFaults;
  global?: GlobalFaults;
  knobs?: ConfigKnobs;
  /** Runs while the round is in flight. */
  during?: (sim: Simulator) => Promise<void>;
  /** Rounds to run before switching the fault on. */
  warmup?: number;
  verdict: Verdict;
  reason: RegExp;
  check?: (s: ServiceResult) => void;
}

async function waitFor(cond: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cases: Case[] = [
  { name: 'healthy platform', verdict: 'ok', reason: /^$/, check: (s) => {
    assert.equal(s.delta, 1);
    assert.equal(s.expectedDelta, 1);
    assert.equal(s.meteringOk, true);
    assert.equal(s.authOk, true);
    // Settling is timed from the answer; the simulator's lag starts when it took the call, so the
    // call's own time is part of the 300 ms (a busy machine makes it a large part).
    assert.ok(s.settleSeconds! + s.calls[0].durationSeconds >= 0.25, `settle ${s.settleSeconds} (+ call ${s.calls[0].durationSeconds}) should reflect the 300 ms lag`);
  } },
  { name: 'dropped metering', faults: { dropEvery: 1 }, verdict: 'metering_mismatch', reason: /under by 1 \(undercharge\): counter rose 0, expected 1/,
    check: (s) => assert.equal(s.callOk, true) },
  { name: 'double metering', faults: { double: true }, verdict: 'metering_mismatch', reason: /over by 1 \(overcharge\): counter rose 2, expected 1/ },
  { name: 'failed call metered', faults: { error5xx: true, meterFailed: true }, knobs: { settleTimeoutMs: 1500 }, verdict: 'metering_mismatch',
    reason: /over by 1 \(overcharge\): counter rose 1, expected 0; 1 failed call should add 0/,
    check: (s) => assert.equal(s.callOk, false) },
  { name: '5xx', faults: { error5xx: true }, knobs: { settleTimeoutMs: 1500 }, verdict: 'call_failed', reason: /call recognise: status: expected 200, got 500/,
    check: (s) => { assert.equal(s.meteringOk, true); assert.equal(s.delta, 0); } },
  { name: 'malformed usage', global: { malformedUsage: true }, verdict: 'count_query_failed', reason: /value at data.usedCount is "--", not a whole number/,
    check: (s) => { assert.equal(s.callOk, true); assert.equal(s.delta, null); } },
  { name: 'login down', global: { loginDown: true }, verdict: 'count_query_failed', reason: /before: login failed: status: expected 200, got 503/ },
  { name: 'bad credentials accepted', faults: { acceptBadCredentials: true }, verdict: 'auth_failed', reason: /auth check wrong_key: bad credential accepted/,
    check: (s) => assert.equal(s.authOk, false) },
  { name: 'counter reset mid-round', warmup: 2, verdict: 'indeterminate', reason: /counter went backwards \(2 -> [01]\)/,
    during: async (sim) => {
      const calls = sim.stats().calls.ocr ?? 0;
      await waitFor(() => (sim.stats().calls.ocr ?? 0) > calls);
      sim.resetCounters();
    } },
  // The call would hang two minutes; the timeout (300 ms, plus a 1 s settle) must end it: a bound of
  // 25 s is 5x the few seconds this takes on a busy machine, and far from the two minutes.
  { name: 'slow beyond the timeout', faults: { slowMs: 120_000 }, knobs: { callTimeoutMs: 300, settleTimeoutMs: 1000 }, verdict: 'call_failed',
    reason: /call recognise: timeout after 300ms/,
    check: (s) => assert.ok(s.finishedAt - s.startedAt < 25_000, `the round finishes in bounded time (${s.finishedAt - s.startedAt} ms)`) },
];

for (const c of cases) {
  test(`fault: ${c.name} -> ${c.verdict}`, async () => {
    await withSim({ lagMs: 300 }, async (sim) => {
      const { inspector } = inspectorFor(ocrConfig(c.knobs), sim);
      try {
        for (let i = 0; i < (c.warmup ?? 0); i++) {
          const r = await inspector.runRound({ trigger: 'cli' });
          assert.equal(r.services[0].verdict, 'ok', `warm-up round ${i}: ${r.services[0].reason}`);
        }
        if (c.faults) sim.setFaults('ocr', c.faults);
        if (c.global) sim.setGlobalFaults(c.global);
        const [round] = await Promise.all([inspector.runRound({ trigger: 'cli' }), c.during?.(sim)]);
        const s = round.services[0];
        assert.equal(s.verdict, c.verdict, `reason: ${s.reason}`);
        assert.match(s.reason, c.reason);
        c.check?.(s);
      } finally {
        await inspector.close();
      }
    });
  });
}

test('an expired session (answered 200 with code 11001) is renewed by exactly one login', async () => {
  await withSim({ lagMs: 300 }, async (sim) => {
    const { inspector } = inspectorFor(ocrConfig(), sim);
    try {
      assert.equal((await inspector.runRound({ trigger: 'cli' })).services[0].verdict, 'ok');
      const logins = sim.stats().logins;
      sim.expireSessions(); // the sim answers 200 {code: 11001} for an expired session
      const r = await inspector.runRound({ trigger: 'cli' });
      assert.equal(r.services[0].verdict, 'ok', r.services[0].reason);
      assert.equal(sim.stats().logins, logins + 1, 'exactly one new login');
    } finally {
      await inspector.close();
    }
  });
});

test('a wrong console password is a count query failure that says so', async () => {
  await withSim({ lagMs: 300 }, async (sim) => {
    const { inspector } = inspectorFor(ocrConfig({ password: 'wrong-password' }), sim);
    try {
      const s = (await inspector.runRound({ trigger: 'cli' })).services[0];
      assert.equal(s.verdict, 'count_query_failed');
      assert.match(s.reason, /login failed: status: expected 200, got 401/);
      assert.equal(s.callOk, true);
    } finally {
      await inspector.close();
    }
  });
});

test('metering lag L: the round takes about L plus a poll interval, not a fixed wait', async () => {
  for (const lagMs of [200, 1200]) {
    await withSim({ lagMs }, async (sim) => {
      const pollMs = 200;
      // A settle timeout of a minute: an implementation that waited it out (or any fixed wait near it)
      // makes about 300 reads. Counted, not timed: each poll sleeps at least pollMs, so a busy machine
      // only makes fewer reads, and settling stops at the first read that sees the unit (confirm 0):
      // at most L / poll reads before it lands, that one, and the read before the call.
      const { inspector } = inspectorFor(ocrConfig({ pollMs, confirmReads: 0, settleTimeoutMs: 60_000 }), sim);
      try {
        const readsBefore = sim.stats().usageReads;
        const r = await inspector.runRound({ trigger: 'cli' });
        const s = r.services[0];
        assert.equal(s.verdict, 'ok', s.reason);
        const wall = r.durationSeconds * 1000;
        assert.ok(wall >= lagMs, `round ${wall} ms shorter than the lag ${lagMs} ms`);
        const reads = sim.stats().usageReads - readsBefore;
        assert.ok(reads <= 1 + Math.ceil(lagMs / pollMs) + 2, `${reads} counter reads for lag ${lagMs} ms and a ${pollMs} ms poll`);
        // Settling is timed from the answer, the lag from when the simulator took the call.
        assert.ok((s.settleSeconds! + s.calls[0].durationSeconds) * 1000 >= lagMs - 50, `settle ${s.settleSeconds}`);
      } finally {
        await inspector.close();
      }
    });
  }
});

test('at_least mode accepts other traffic on a shared app id; exact mode calls it an overcharge', async () => {
  await withSim({ lagMs: 100 }, async (sim) => {
    for (const mode of ['at_least', 'exact'] as const) {
      const { inspector } = inspectorFor(ocrConfig({ mode }), sim);
      try {
        // Another customer of the same app id makes a call while the round runs.
        const other = (async () => {
          const calls = sim.stats().calls.ocr ?? 0;
          await waitFor(() => (sim.stats().calls.ocr ?? 0) > calls);
          await fetch(`${sim.url}/v1/ocr`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-appid': '5f3a9c01', 'x-api-key': 'demo-api-key-0001' }, body: '{"text":"x"}' });
        })();
        const [r] = await Promise.all([inspector.runRound({ trigger: 'cli' }), other]);
        const s = r.services[0];
        if (mode === 'at_least') assert.equal(s.verdict, 'ok', s.reason);
        else assert.equal(s.verdict, 'metering_mismatch', s.reason);
        assert.equal(s.delta, 2);
      } finally {
        await inspector.close();
      }
    }
  });
});

test('services sharing one counter are judged one after the other, and both come out right', async () => {
  await withSim({ lagMs: 200 }, async (sim) => {
    const second = `
  - id: ocr-copy
    app_id: 5f3a9c01
    business_id: ocr
    params: { api_key: demo-api-key-0001 }
    calls:
      - name: recognise
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/ocr"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: "{{params.api_key}}" }
          json: { text: "abc" }
`;
    const { inspector } = inspectorFor(ocrConfig({ serviceExtra: second }), sim);
    try {
      const r = await inspector.runRound({ trigger: 'cli' });
      assert.deepEqual(r.services.map((s) => s.verdict), ['ok', 'ok'], r.services.map((s) => s.reason).join(' | '));
      const [a, b] = r.services;
      const first = a.startedAt <= b.startedAt ? a : b;
      const later = first === a ? b : a;
      assert.ok(later.startedAt >= first.finishedAt, 'the second started after the first was judged');
    } finally {
      await inspector.close();
    }
  });
});

test('the round deadline is a failure of what it cut short, with the reason (not an abort)', async () => {
  await withSim({ lagMs: 300 }, async (sim) => {
    // The call would hang two minutes; the 700 ms deadline must cut it. 15 s is 5x the 3 s such a
    // round may take on a busy machine, and far from the two minutes.
    sim.setFaults('ocr', { slowMs: 120_000 });
    const { inspector } = inspectorFor(ocrConfig({ callTimeoutMs: 180_000, roundTimeoutMs: 700 }), sim);
    try {
      const started = Date.now();
      const r = await inspector.runRound({ trigger: 'cli' });
      assert.ok(Date.now() - started < 15_000, `round took ${Date.now() - started} ms`);
      assert.equal(r.aborted, false);
      assert.equal(r.timedOut, true);
      assert.equal(r.abortedServices, undefined);
      assert.equal(r.services[0].verdict, 'call_failed');
      assert.match(r.services[0].reason, /round deadline exceeded/);
    } finally {
      await inspector.close();
    }
  });
});

test('rounds leave no listener on the long-lived shutdown signal', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    const { inspector } = inspectorFor(ocrConfig({ pollMs: 20, confirmReads: 0 }), sim);
    const shutdown = new AbortController();
    try {
      for (let i = 0; i < 12; i++) assert.equal((await inspector.runRound({ trigger: 'cli', signal: shutdown.signal })).services[0].verdict, 'ok');
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
    } finally {
      await inspector.close();
    }
  });
});

const DEMO_CALL = { method: 'POST', headers: { 'content-type': 'application/json', 'x-appid': '5f3a9c01', 'x-api-key': 'demo-api-key-0001' }, body: '{"text":"x"}' };

/** Rounds one after the other, each starting from the counters the previous ones left (as the exporter carries them). */
function carried(): { baselines: () => CounterBaseline[]; keep: (r: RoundResult) => RoundResult } {
  const map = new Map<string, CounterBaseline>();
  return { baselines: () => [...map.values()], keep: (r) => (applyBaselines(map, r), r) };
}

test('shutdown mid-round: finished services keep their verdicts, the rest are aborted, not failed', async () => {
  await withSim({ lagMs: 100 }, async (sim) => {
    sim.setFaults('nlp', { slowMs: 20_000 });
    const { inspector } = inspectorFor(ocrConfig({ callTimeoutMs: 30_000, roundTimeoutMs: 60_000, serviceExtra: nlpService() }), sim);
    const shutdown = new AbortController();
    try {
      const done: string[] = [];
      const round = inspector.runRound({ trigger: 'cli', signal: shutdown.signal, onServiceDone: (r) => done.push(r.serviceId) });
      await waitFor(() => done.includes('ocr') && (sim.stats().calls.nlp ?? 0) > 0, 30_000);
      shutdown.abort(new Error('shutdown'));
      const r = await round;
      assert.equal(r.aborted, true);
      assert.equal(r.timedOut, undefined);
      assert.deepEqual(r.services.map((s) => [s.serviceId, s.verdict]), [['ocr', 'ok']]);
      assert.deepEqual(r.abortedServices?.map((a) => [a.serviceId, a.reason]), [['nlp', 'not finished: shutdown']]);
      // It had read its counter: the next round compares from there.
      assert.equal(r.abortedServices?.[0].baseline?.value, sim.usage('5f3a9c01', 'nlp'));
    } finally {
      await inspector.close();
    }
  });
});

test('shutdown mid-call: a call the platform charged but whose answer the shutdown cut is not unexplained usage in the next round', async () => {
  await withSim({ lagMs: 100 }, async (sim) => {
    // The platform's front: passes each call to the simulator (which charges it), and in the
    // second round holds the answer, as a platform that charges first and answers slowly does.
    let hold = false;
    const held: ServerResponse[] = [];
    const front = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void fetch(`${sim.url}/v1/nlp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-appid': String(req.headers['x-appid']), 'x-api-key': String(req.headers['x-api-key']) }, body: Buffer.concat(chunks) }).then(async (r) => {
          const body = await r.text();
          if (hold) held.push(res);
          else res.writeHead(r.status, { 'content-type': 'application/json' }).end(body);
        });
      });
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const nlp = `
  - id: nlp
    app_id: 5f3a9c01
    business_id: nlp
    params: { api_key: demo-api-key-0001 }
    calls:
      - name: analyse
        http:
          method: POST
          url: "${frontUrl}/v1/nlp"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: "{{params.api_key}}" }
          json: { text: "abc" }
`;
    const { inspector } = inspectorFor(ocrConfig({ callTimeoutMs: 30_000, roundTimeoutMs: 60_000, serviceExtra: nlp }), sim);
    const c = carried();
    try {
      const first = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      assert.deepEqual(first.services.map((s) => [s.serviceId, s.verdict]), [['ocr', 'ok'], ['nlp', 'ok']]);
      hold = true;
      const used = sim.usage('5f3a9c01', 'nlp');
      const shutdown = new AbortController();
      const round = inspector.runRound({ trigger: 'cli', signal: shutdown.signal, baselines: c.baselines() });
      await waitFor(() => held.length > 0 && sim.usage('5f3a9c01', 'nlp') === used + 1, 10_000);
      shutdown.abort(new Error('shutdown'));
      const cut = c.keep(await round);
      assert.equal(cut.abortedServices?.find((a) => a.serviceId === 'nlp')?.baseline?.inFlight, 1, 'the cut call is owed');
      hold = false;
      const third = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      const s3 = third.services.find((s) => s.serviceId === 'nlp')!;
      assert.equal(s3.verdict, 'ok', s3.reason);
      assert.deepEqual([s3.unexplained?.kind, s3.unexplained?.units], ['none', 0], s3.unexplained?.reason);
    } finally {
      for (const res of held) res.destroy();
      await new Promise((r) => front.close(r));
      await inspector.close();
    }
  });
});

test('a late charge (metering lag longer than the settle timeout) is found by the next round, with its real lag, and learnt', async () => {
  // A lag eight times the settle timeout: the first round has long given up when the unit lands,
  // however slowly a busy machine runs it.
  await withSim({ lagMs: 4000 }, async (sim) => {
    const { inspector } = inspectorFor(ocrConfig({ settleTimeoutMs: 500 }), sim);
    const c = carried();
    try {
      const first = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      const s1 = first.services[0];
      assert.equal(s1.verdict, 'metering_mismatch', s1.reason);
      assert.match(s1.reason, /under by 1/);
      assert.equal(s1.unexplained, undefined, 'nothing to compare the first round with');
      assert.equal(s1.baseline?.shortfall, 1);
      // The unit lands after the round gave up.
      const seen = s1.after!.ok ? s1.after!.value : -1;
      await waitFor(() => sim.usage('5f3a9c01', 'ocr') === seen + 1, 30_000);
      sim.setLagMs(100);
      const second = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      const s2 = second.services[0];
      assert.equal(s2.verdict, 'ok', s2.reason);
      assert.equal(s2.unexplained?.kind, 'late_charge');
      assert.equal(s2.unexplained?.units, 1);
      const lag = s2.unexplained!.lagSeconds!;
      // The unit landed 4 s after the simulator took the call (so at most the call's time, and the moment until the round notes its
      // last call, less after the answer): not yet at the last read, already at this first read.
      assert.ok(lag.min < 4 && lag.max >= 4 - s1.calls[0].durationSeconds - 0.1, `lag bounds ${JSON.stringify(lag)}, call ${s1.calls[0].durationSeconds} s`);
      assert.ok(lag.min >= 0.5, `the previous round waited the settle timeout: ${JSON.stringify(lag)}`);
      assert.match(s2.unexplained!.reason, /late charge: the 1 unit the round of ocr was short by arrived/);
      // Learnt: the longest lag of the service is now the late one (it sets the quiet period when nothing is expected).
      assert.equal(inspector.learntLagSeconds('ocr'), lag.max);
      const third = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      assert.equal(third.services[0].unexplained?.kind, 'none');
      assert.equal(third.services[0].unexplained?.units, 0);
    } finally {
      await inspector.close();
    }
  });
});

test('usage between rounds that no call of the config made is unexplained; a shared counter counts it once', async () => {
  await withSim({ lagMs: 100 }, async (sim) => {
    const second = `
  - id: ocr-copy
    app_id: 5f3a9c01
    business_id: ocr
    params: { api_key: demo-api-key-0001 }
    calls:
      - name: recognise
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/ocr"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: "{{params.api_key}}" }
          json: { text: "abc" }
`;
    const { inspector } = inspectorFor(ocrConfig({ serviceExtra: second }), sim);
    const c = carried();
    try {
      const first = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      assert.deepEqual(first.services.map((s) => s.verdict), ['ok', 'ok']);
      // Within the round the second service compared with the first one's last read: nothing moved.
      const later = first.services.find((s) => s.unexplained !== undefined)!;
      assert.equal(later.unexplained?.units, 0);
      // Someone else with valid credentials, between rounds.
      const before = sim.usage('5f3a9c01', 'ocr');
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${sim.url}/v1/ocr`, DEMO_CALL)).status, 200);
      await waitFor(() => sim.usage('5f3a9c01', 'ocr') === before + 3);
      const next = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      assert.deepEqual(next.services.map((s) => s.verdict), ['ok', 'ok'], next.services.map((s) => s.reason).join(' | '));
      const found = next.services.map((s) => s.unexplained!);
      assert.deepEqual(found.map((u) => u.units).sort(), [0, 3], 'the 3 units counted once, by whichever service read the counter first');
      const u = found.find((x) => x.units === 3)!;
      assert.equal(u.kind, 'unexplained');
      assert.match(u.reason, /3 units used between .* that no call of this config made/);
      assert.equal(u.value - u.since.value, 3);
    } finally {
      await inspector.close();
    }
  });
});

test('units found by a service that shutdown then stopped are not absorbed: the next round reports them', async () => {
  await withSim({ lagMs: 100 }, async (sim) => {
    const { inspector } = inspectorFor(ocrConfig({ callTimeoutMs: 30_000, roundTimeoutMs: 60_000 }), sim);
    const c = carried();
    try {
      c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      // Someone else's call, then a round stopped while ocr's own call hangs.
      const used = sim.usage('5f3a9c01', 'ocr');
      assert.equal((await fetch(`${sim.url}/v1/ocr`, DEMO_CALL)).status, 200);
      await waitFor(() => sim.usage('5f3a9c01', 'ocr') === used + 1);
      sim.setFaults('ocr', { slowMs: 20_000 });
      const calls = sim.stats().calls.ocr ?? 0;
      const shutdown = new AbortController();
      const cut = inspector.runRound({ trigger: 'cli', baselines: c.baselines(), signal: shutdown.signal });
      await waitFor(() => (sim.stats().calls.ocr ?? 0) > calls);
      shutdown.abort(new Error('shutdown'));
      assert.deepEqual(c.keep(await cut).abortedServices?.map((a) => a.serviceId), ['ocr']);
      sim.clearFaults();
      const next = c.keep(await inspector.runRound({ trigger: 'cli', baselines: c.baselines() }));
      assert.equal(next.services[0].verdict, 'ok', next.services[0].reason);
      assert.deepEqual([next.services[0].unexplained?.kind, next.services[0].unexplained?.units], ['unexplained', 1]);
    } finally {
      await inspector.close();
    }
  });
});
