// Settling the counter after the calls (Inspector.settle), pinned down against the real simulator
// over HTTP: how many reads it makes, when it stops early, how long it stays quiet when nothing
// should be charged, and the settle time it reports. Also the mutation tests' judge of that code
// (`npm run mutation -- settle`), so it stays narrow and takes seconds.
//
// Counts, not clocks: every poll sleeps at least poll_interval, so a busy machine can only make
// fewer reads in a given time, never more. Upper bounds are on the number of counter reads the
// simulator served; times are only ever bounded from below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_ACCOUNT, type Simulator } from '../src/sim/platform.js';
import type { Inspector } from '../src/engine/inspector.js';
import type { CounterReading, ServiceResult } from '../src/types.js';
import { stringify } from 'yaml';
import { inspectorFor, ocrConfigObject, withSim, type ConfigKnobs } from './helpers/harness.js';

/** ocrConfig with a quiet period and/or the service's own settle values, built as an object. */
function config(knobs: ConfigKnobs, extra: { quietMs?: number; serviceSettle?: Record<string, unknown> } = {}): string {
  const c = ocrConfigObject(knobs) as { global: { settle: Record<string, unknown> }; services: { metering: Record<string, unknown> }[] };
  if (extra.quietMs !== undefined) c.global.settle.quiet_period = `${extra.quietMs}ms`;
  if (extra.serviceSettle !== undefined) c.services[0].metering.settle = extra.serviceSettle;
  return stringify(c);
}

interface Outcome {
  s: ServiceResult;
  /** Counter reads the simulator served during the round (the one before the calls included). */
  reads: number;
  durationMs: number;
}

async function roundOf(sim: Simulator, inspector: Inspector, during?: () => Promise<void>): Promise<Outcome> {
  const before = sim.stats().usageReads;
  const [r] = await Promise.all([inspector.runRound({ trigger: 'cli' }), during?.()]);
  assert.equal(r.services.length, 1);
  return { s: r.services[0], reads: sim.stats().usageReads - before, durationMs: r.durationSeconds * 1000 };
}

function readOk(r: CounterReading | null, what: string): Extract<CounterReading, { ok: true }> {
  assert.ok(r?.ok, `${what}: ${r ? (r as { reason: string }).reason : 'not read'}`);
  return r as Extract<CounterReading, { ok: true }>;
}

/**
 * The earliest the round can have noted its last call (ms): the read before the calls, then the call
 * and the auth check, one after the other. Durations are rounded to the millisecond.
 */
function lastCallNoLaterThan(s: ServiceResult): number {
  return readOk(s.before, 'before').at + (s.calls[0].durationSeconds + s.authChecks[0].durationSeconds) * 1000 - 2;
}

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (let i = 0; i < ms / 5 && !cond(); i++) {
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(cond(), `${what}: not within ${ms} ms`);
}

/** One more metered call on the same app id and service, as other traffic would make. */
async function otherCall(sim: Simulator): Promise<void> {
  const res = await fetch(`${sim.url}/v1/ocr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-appid': DEMO_ACCOUNT.appId, 'x-api-key': DEMO_ACCOUNT.apiKey },
    body: JSON.stringify({ text: 'other' }),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

async function withInspector(sim: Simulator, text: string, fn: (inspector: Inspector) => Promise<void>): Promise<void> {
  const { inspector } = inspectorFor(text, sim);
  try {
    await fn(inspector);
  } finally {
    await inspector.close();
  }
}

test('a matching delta is confirmed by exactly confirm_reads more reads, then settling stops (global value and the service\'s own)', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    for (const confirmReads of [0, 1, 3]) {
      await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 20_000, confirmReads }), async (inspector) => {
        const { s, reads } = await roundOf(sim, inspector);
        assert.equal(s.verdict, 'ok', s.reason);
        assert.equal(s.delta, 1);
        // The read before the calls, the first that matches, and the confirming ones.
        assert.equal(reads, 1 + 1 + confirmReads, `confirm_reads ${confirmReads}`);
        assert.ok(s.settleSeconds !== null && s.settleSeconds >= 0.02 - 0.002, `settle ${s.settleSeconds}`);
      });
    }
    // A service's own value overrides the global one; the others (the poll, the timeout) still apply.
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 20_000, confirmReads: 0 }, { serviceSettle: { confirm_reads: 2 } }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'ok', s.reason);
      assert.equal(reads, 1 + 1 + 2);
    });
  });
});

test('the delta must stay: a unit that lands while confirming is an overcharge, and settling stops at the read that sees it', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    // Ten confirming reads (the most allowed) 400 ms apart, at least 4 s: the other call lands in that
    // window however slow the machine.
    await withInspector(sim, config({ pollMs: 400, settleTimeoutMs: 30_000, confirmReads: 10 }), async (inspector) => {
      const start = sim.stats().usageReads;
      let readsAtOther = 0;
      const { s, reads } = await roundOf(sim, inspector, async () => {
        // The read before the calls and the first settling read (which already matches) are done.
        await until(() => sim.stats().usageReads >= start + 2, 'first settling read');
        await otherCall(sim);
        readsAtOther = sim.stats().usageReads - start;
      });
      assert.equal(s.verdict, 'metering_mismatch', s.reason);
      assert.match(s.reason, /over by 1 \(overcharge\): counter rose 2, expected 1/);
      assert.equal(s.settleSeconds, null, 'no settle time for a mismatch');
      assert.ok(readsAtOther < 1 + 1 + 10, `the other call came after the confirmation (${readsAtOther} reads)`);
      // One read may have been in flight when the unit landed; the next one sees it and ends.
      assert.ok(reads <= readsAtOther + 2, `${reads} reads, ${readsAtOther} when the unit landed`);
    });
  });
});

test('over in exact mode ends settling at once; in at_least mode more is a match', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    sim.setFaults('ocr', { double: true });
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 5000, confirmReads: 3 }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'metering_mismatch', s.reason);
      assert.match(s.reason, /over by 1/);
      assert.equal(reads, 2, 'the read before the calls and the one that saw 2 units');
      assert.equal(readOk(s.after, 'after').value - readOk(s.before, 'before').value, 2);
      assert.equal(s.settleSeconds, null);
    });
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 5000, confirmReads: 3, mode: 'at_least' }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'ok', s.reason);
      assert.equal(s.delta, 2);
      assert.equal(reads, 1 + 1 + 3);
    });
  });
});

test('a counter that goes backwards ends settling at the read that sees it', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    for (let i = 0; i < 3; i++) await otherCall(sim);
    await withInspector(sim, config({ pollMs: 50, settleTimeoutMs: 5000, confirmReads: 10 }), async (inspector) => {
      const calls = sim.stats().calls.ocr;
      let readsAtReset = 0;
      const start = sim.stats().usageReads;
      const { s, reads } = await roundOf(sim, inspector, async () => {
        // The call and the auth check have been answered: the round is settling.
        await until(() => sim.stats().calls.ocr >= calls + 2, 'the call and the auth check');
        sim.resetCounters();
        readsAtReset = sim.stats().usageReads - start;
      });
      assert.equal(s.verdict, 'indeterminate', s.reason);
      assert.match(s.reason, /counter went backwards \(3 -> [01]\)/);
      assert.ok(reads <= readsAtReset + 2, `${reads} reads, ${readsAtReset} at the reset`);
    });
  });
});

test('nothing expected (a failed call): quiet for the whole settle timeout by default, so a late charge for it is seen', async () => {
  // The failed call's unit lands 800 ms after the simulator took it; settling may not call zero a
  // match before its quiet period, which is the 2 s timeout when nothing has been learnt.
  await withSim({ lagMs: 800 }, async (sim) => {
    sim.setFaults('ocr', { error5xx: true, meterFailed: true });
    await withInspector(sim, config({ pollMs: 100, settleTimeoutMs: 2000, confirmReads: 1 }), async (inspector) => {
      const { s } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'metering_mismatch', s.reason);
      assert.match(s.reason, /over by 1 \(overcharge\): counter rose 1, expected 0/);
    });
    // Not charged: call_failed, after a read at the end of the quiet period.
    sim.setFaults('ocr', { error5xx: true });
    await withInspector(sim, config({ pollMs: 100, settleTimeoutMs: 2000, confirmReads: 1 }), async (inspector) => {
      const { s } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'call_failed', s.reason);
      assert.equal(s.meteringOk, true);
      assert.equal(s.delta, 0);
      const last = readOk(s.after, 'after').at;
      assert.ok(last - lastCallNoLaterThan(s) >= 2000 - 50, `last read ${last - lastCallNoLaterThan(s)} ms after the calls, before the quiet period ended`);
    });
  });
});

test('nothing expected, in at_least mode: no quiet period (any charge is a match)', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    sim.setFaults('ocr', { error5xx: true });
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 5000, confirmReads: 1, mode: 'at_least' }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'call_failed', s.reason);
      assert.equal(reads, 1 + 1 + 1);
    });
  });
});

test('the quiet period: quiet_period when set, else 1.5 times the longest settle time learnt plus a poll; none when a unit is expected', async () => {
  const poll = 100;
  await withSim({ lagMs: 0 }, async (sim) => {
    // Set: 1.2 s of quiet with a 20 s timeout.
    sim.setFaults('ocr', { error5xx: true });
    await withInspector(sim, config({ pollMs: poll, settleTimeoutMs: 20_000, confirmReads: 1 }, { quietMs: 1200 }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'call_failed', s.reason);
      const last = readOk(s.after, 'after').at - lastCallNoLaterThan(s);
      assert.ok(last >= 1200 - 50, `last read ${last} ms after the calls`);
      // Reads until the quiet period is over, then one to confirm (and the one before the calls).
      assert.ok(reads <= 1 + Math.ceil(1200 / poll) + 1 + 1, `${reads} reads`);
    });

    // Learnt: an ok round with a 600 ms lag teaches the service its lag.
    sim.clearFaults();
    sim.setLagMs(600);
    await withInspector(sim, config({ pollMs: poll, settleTimeoutMs: 20_000, confirmReads: 1 }), async (inspector) => {
      assert.equal(inspector.learntLagSeconds('ocr'), null, 'nothing learnt yet');
      const first = await roundOf(sim, inspector);
      assert.equal(first.s.verdict, 'ok', first.s.reason);
      const learnt = first.s.settleSeconds!;
      assert.ok((learnt + first.s.calls[0].durationSeconds) * 1000 >= 600 - 50, `settle ${learnt}`);
      assert.equal(inspector.learntLagSeconds('ocr'), learnt);
      // A quicker ok round after it: the longest lag is what counts.
      sim.setLagMs(0);
      const quick = await roundOf(sim, inspector);
      assert.equal(quick.s.verdict, 'ok', quick.s.reason);
      assert.ok(quick.s.settleSeconds! < learnt, `settle ${quick.s.settleSeconds} after ${learnt}`);
      assert.equal(inspector.learntLagSeconds('ocr'), learnt);

      sim.setFaults('ocr', { error5xx: true });
      const quiet = learnt * 1500 + poll;
      const failed = await roundOf(sim, inspector);
      assert.equal(failed.s.verdict, 'call_failed', failed.s.reason);
      const last = readOk(failed.s.after, 'after').at - lastCallNoLaterThan(failed.s);
      assert.ok(last >= quiet - 50, `last read ${last} ms after the calls, quiet period ${quiet} ms`);
      assert.ok(failed.reads <= 1 + Math.ceil(quiet / poll) + 1 + 1, `${failed.reads} reads for a quiet period of ${quiet} ms`);
      assert.equal(inspector.learntLagSeconds('ocr'), learnt, 'a failed round teaches nothing');

      // A unit expected: no quiet period, whatever was learnt.
      sim.clearFaults();
      const ok = await roundOf(sim, inspector);
      assert.equal(ok.s.verdict, 'ok', ok.s.reason);
      assert.equal(ok.reads, 1 + 1 + 1);
    });
  });
});

test('the quiet period never outlasts the settle timeout, and settling reads until that timeout', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    sim.setFaults('ocr', { error5xx: true });
    await withInspector(sim, config({ pollMs: 250, settleTimeoutMs: 1000, confirmReads: 1 }, { quietMs: 60_000 }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'call_failed', s.reason);
      assert.equal(s.meteringOk, true);
      assert.ok(reads <= 1 + Math.ceil(1000 / 250) + 1, `${reads} reads`);
      const last = readOk(s.after, 'after').at - lastCallNoLaterThan(s);
      assert.ok(last >= 1000 - 50, `last read ${last} ms after the calls, before the timeout`);
    });
  });
});

test('a failed read while confirming is skipped: the confirmation goes on with the next good read', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    // Ten confirming reads 200 ms apart: at least 2 s to make one of them fail.
    await withInspector(sim, config({ pollMs: 200, settleTimeoutMs: 30_000, confirmReads: 10 }), async (inspector) => {
      const start = sim.stats().usageReads;
      let failedAt = 0;
      const { s, reads } = await roundOf(sim, inspector, async () => {
        await until(() => sim.stats().usageReads >= start + 2, 'first settling read');
        sim.setFaults('ocr', { usageDown: true });
        const down = sim.stats().usageReads;
        await until(() => sim.stats().usageReads > down, 'a failed read');
        sim.clearFaults();
        failedAt = sim.stats().usageReads - start;
      });
      assert.equal(s.verdict, 'ok', s.reason);
      assert.equal(readOk(s.after, 'after').value - readOk(s.before, 'before').value, 1);
      assert.ok(reads > failedAt, `settling went on after the failed read (${reads} reads, ${failedAt} at the failure)`);
    });
  });
});

test('at_least mode waits for the expected units too (a lag of 300 ms)', async () => {
  await withSim({ lagMs: 300 }, async (sim) => {
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 20_000, confirmReads: 1, mode: 'at_least' }), async (inspector) => {
      const { s } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'ok', s.reason);
      assert.equal(s.delta, 1);
      assert.ok((s.settleSeconds! + s.calls[0].durationSeconds) * 1000 >= 300 - 50, `settle ${s.settleSeconds}`);
    });
  });
});

test('the settle time runs from the last call to the first matching read, not to the last confirming one', async () => {
  const poll = 100;
  const confirmReads = 5;
  await withSim({ lagMs: 400 }, async (sim) => {
    await withInspector(sim, config({ pollMs: poll, settleTimeoutMs: 20_000, confirmReads }), async (inspector) => {
      const { s } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'ok', s.reason);
      const settle = s.settleSeconds!;
      // The lag runs from when the simulator took the call, the settle time from the answer.
      assert.ok((settle + s.calls[0].durationSeconds) * 1000 >= 400 - 50, `settle ${settle} s`);
      // The confirming reads came at least a poll apart after the first match, and the last of them
      // is the reading kept: the first match lies that far before it.
      const lastRead = readOk(s.after, 'after').at;
      assert.ok(settle * 1000 <= lastRead - lastCallNoLaterThan(s) - confirmReads * poll + 5, `settle ${settle} s, last read ${lastRead - lastCallNoLaterThan(s)} ms after the calls`);
    });
  });
});

test('the round deadline while settling: not settled, with the reason; a delta already matched stands', async () => {
  // The unit never lands within the round (a ten-minute lag); the 2.5 s deadline ends settling.
  await withSim({ lagMs: 600_000 }, async (sim) => {
    await withInspector(sim, config({ pollMs: 100, settleTimeoutMs: 30_000, confirmReads: 1, roundTimeoutMs: 2500 }), async (inspector) => {
      const { s } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'count_query_failed', s.reason);
      assert.match(s.reason, /after: not settled: round deadline exceeded \(2500ms\)/);
      assert.equal(s.after?.ok, false);
      assert.equal(s.settleSeconds, null);
    });
  });
  // Matched at once, then still confirming when the deadline comes: the last reading is the answer.
  await withSim({ lagMs: 0 }, async (sim) => {
    // Ten confirming reads 400 ms apart take at least 4 s: the deadline comes first.
    await withInspector(sim, config({ pollMs: 400, settleTimeoutMs: 30_000, confirmReads: 10, roundTimeoutMs: 2500 }), async (inspector) => {
      const { s } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'ok', s.reason);
      assert.equal(readOk(s.after, 'after').value - readOk(s.before, 'before').value, 1);
      assert.ok(s.settleSeconds !== null && s.settleSeconds >= 0.4 - 0.002, `settle ${s.settleSeconds}`);
    });
  });
});

test('the lag memory: the longest of the last 10 ok rounds\' settle times; failed rounds do not count', async () => {
  await withSim({ lagMs: 800 }, async (sim) => {
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 20_000, confirmReads: 0 }), async (inspector) => {
      const first = await roundOf(sim, inspector);
      assert.equal(first.s.verdict, 'ok', first.s.reason);
      const slow = first.s.settleSeconds!;
      assert.ok(slow > 0.5, `settle ${slow}`);
      sim.setLagMs(0);
      // Nine more ok rounds: ten remembered, the slow one among them.
      for (let i = 0; i < 9; i++) assert.equal((await roundOf(sim, inspector)).s.verdict, 'ok');
      assert.equal(inspector.learntLagSeconds('ocr'), slow);
      // A failed round is not remembered, so the slow one stays.
      sim.setFaults('ocr', { error5xx: true });
      assert.equal((await roundOf(sim, inspector)).s.verdict, 'call_failed');
      assert.equal(inspector.learntLagSeconds('ocr'), slow);
      // The eleventh ok round pushes it out.
      sim.clearFaults();
      assert.equal((await roundOf(sim, inspector)).s.verdict, 'ok');
      const now = inspector.learntLagSeconds('ocr')!;
      assert.ok(now < slow, `learnt ${now}, the slow round's ${slow} should be forgotten`);
    });
  });
});

test('no reading before the calls: nothing to settle against, so no settling reads at all', async () => {
  await withSim({ lagMs: 0 }, async (sim) => {
    sim.setGlobalFaults({ malformedUsage: true });
    await withInspector(sim, config({ pollMs: 20, settleTimeoutMs: 2000, confirmReads: 1 }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'count_query_failed', s.reason);
      assert.equal(s.after, null);
      assert.equal(reads, 1, 'only the read before the calls');
    });
  });
});

test('the settle timeout ends settling by the clock, before its reads run out', async () => {
  // Reads at most every 2 ms for 300 ms: at most 151 reads are allowed, but each read takes time
  // too, so the clock runs out first. (A busy machine only makes fewer reads.)
  await withSim({ lagMs: 600_000 }, async (sim) => {
    await withInspector(sim, config({ pollMs: 2, settleTimeoutMs: 300, confirmReads: 1 }), async (inspector) => {
      const { s, reads } = await roundOf(sim, inspector);
      assert.equal(s.verdict, 'metering_mismatch', s.reason);
      assert.match(s.reason, /under by 1/);
      const allowed = Math.ceil(300 / 2) + 1;
      assert.ok(reads - 1 < allowed * 0.9, `${reads - 1} settling reads of the ${allowed} allowed`);
      assert.ok(readOk(s.after, 'after').at - lastCallNoLaterThan(s) >= 300 - 50, 'gave up before the timeout');
    });
  });
});
