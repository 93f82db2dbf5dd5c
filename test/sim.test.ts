// The simulated platform is the test double of the whole suite, so its own contract is tested here
// over real HTTP: if it drifts, every other test would be judging against the wrong thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { DEMO_ACCOUNT, HTTP_SERVICES, startSimulator, type Simulator } from '../src/sim/platform.js';
import { withSim } from './helpers/harness.js';

const APP = DEMO_ACCOUNT.appId;

async function post(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

const GOOD: { appId: string; apiKey: string } = { appId: APP, apiKey: DEMO_ACCOUNT.apiKey };

function call(sim: Simulator, service: string, text: unknown = 'hello', creds = GOOD) {
  return callWith(sim, service, { text }, creds);
}

function callWith(sim: Simulator, service: string, body: unknown, creds = GOOD) {
  return post(`${sim.url}/v1/${service}`, body, {
    'x-appid': creds.appId,
    'x-api-key': creds.apiKey,
  });
}

async function login(sim: Simulator): Promise<string> {
  const r = await post(`${sim.url}/console/login`, { username: DEMO_ACCOUNT.username, password: DEMO_ACCOUNT.password });
  assert.equal(r.status, 200);
  return r.json.data.ssoSessionId;
}

function readUsage(sim: Simulator, session: string, service: string, appId: string = APP) {
  return get(`${sim.url}/console/usage?appid=${encodeURIComponent(appId)}&service=${encodeURIComponent(service)}`, {
    cookie: `ssoSessionId=${session}`,
  });
}

/**
 * Polls until cond() holds; bounded in both attempts and time. Returns the elapsed ms. The deadline
 * is generous on purpose: it only ends a test that is wrong, never one on a busy machine.
 */
async function waitFor(cond: () => boolean, { timeoutMs = 30_000, stepMs = 20 } = {}): Promise<number> {
  const start = Date.now();
  const maxSteps = Math.ceil(timeoutMs / stepMs) + 1;
  for (let i = 0; i < maxSteps && Date.now() - start <= timeoutMs; i++) {
    if (cond()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  assert.fail(`condition not met within ${timeoutMs} ms`);
}

test('login sets a session cookie, and the usage read answers today\'s count', async () => {
  await withSim({}, async (sim) => {
    const r = await post(`${sim.url}/console/login`, { username: 'demo', password: 'demo-password' });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(r.json.code, 0);
    assert.equal(r.json.message, 'success');
    const id = r.json.data.ssoSessionId;
    assert.equal(typeof id, 'string');
    assert.ok(id.length >= 16);
    assert.deepEqual(r.headers.getSetCookie(), [`ssoSessionId=${id}; Path=/; HttpOnly`]);

    // Random per login.
    assert.notEqual(await login(sim), id);

    assert.equal((await call(sim, 'ocr')).status, 200);
    const u = await readUsage(sim, id, 'ocr');
    assert.equal(u.status, 200);
    assert.equal(u.json.code, 0);
    assert.equal(u.json.data.appid, APP);
    assert.equal(u.json.data.service, 'ocr');
    assert.match(u.json.data.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(u.json.data.usedCount, 1);

    // Unknown app id and unknown service read 0.
    assert.equal((await readUsage(sim, id, 'nlp')).json.data.usedCount, 0);
    assert.equal((await readUsage(sim, id, 'ocr', 'nobody')).json.data.usedCount, 0);
    assert.equal((await readUsage(sim, id, 'tts')).json.data.usedCount, 0);

    assert.deepEqual(sim.stats(), { logins: 2, usageReads: 4, calls: { ocr: 1, nlp: 0 } });
  });
});

test('the usage date is today in the sim timezone', async () => {
  for (const timezone of ['Pacific/Kiritimati', 'Pacific/Pago_Pago']) {
    await withSim({ timezone }, async (sim) => {
      // The day of the instant the read was answered, which lies between these two: at midnight
      // they differ and either is right (one computed apart from the answer would race it).
      const day = (at: number) => new Intl.DateTimeFormat('en-CA', { timeZone: timezone }).format(at);
      const session = await login(sim);
      const before = Date.now();
      const u = await readUsage(sim, session, 'ocr');
      const after = Date.now();
      assert.ok([day(before), day(after)].includes(u.json.data.date), `${u.json.data.date} is neither ${day(before)} nor ${day(after)}`);
    });
  }
  // The two zones are 25 hours apart: the days differ, so the timezone is really applied.
  const at = Date.now();
  assert.notEqual(new Intl.DateTimeFormat('en-CA', { timeZone: 'Pacific/Kiritimati' }).format(at), new Intl.DateTimeFormat('en-CA', { timeZone: 'Pacific/Pago_Pago' }).format(at));
});

test('wrong login credentials answer 401 10001', async () => {
  await withSim({}, async (sim) => {
    const r = await post(`${sim.url}/console/login`, { username: 'demo', password: 'nope' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { code: 10001, message: 'invalid username or password' });
    assert.equal(r.headers.get('set-cookie'), null);
    const empty = await post(`${sim.url}/console/login`, {});
    assert.equal(empty.status, 401);
  });
});

test('usage read without a cookie, or with an unknown session, answers 401 11001', async () => {
  await withSim({}, async (sim) => {
    const none = await get(`${sim.url}/console/usage?appid=${APP}&service=ocr`);
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, { code: 11001, message: 'not logged in' });
    const unknown = await readUsage(sim, 'made-up-session', 'ocr');
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.code, 11001);
  });
});

test('an expired session answers HTTP 200 with code 11001; a new login works again', async () => {
  await withSim({}, async (sim) => {
    const id = await login(sim);
    assert.equal((await readUsage(sim, id, 'ocr')).json.code, 0);
    sim.expireSessions();
    const r = await readUsage(sim, id, 'ocr');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { code: 11001, message: 'not logged in (session expired)' });
    const again = await readUsage(sim, await login(sim), 'ocr');
    assert.equal(again.json.code, 0);
  });
});

test('sessions expire by themselves after sessionTtlMs', async () => {
  await withSim({ sessionTtlMs: 50 }, async (sim) => {
    const id = await login(sim);
    assert.equal((await readUsage(sim, id, 'ocr')).json.code, 0);
    // Poll over HTTP in a bounded loop (waitFor's condition is synchronous).
    let last: any;
    for (let i = 0; i < 40; i++) {
      last = (await readUsage(sim, id, 'ocr')).json;
      if (last.code === 11001) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(last.code, 11001);
  });
});

test('services answer with their results; a call with valid credentials meters 1 unit', async () => {
  await withSim({}, async (sim) => {
    const ocr = await call(sim, 'ocr', 'abc def');
    assert.equal(ocr.status, 200);
    assert.equal(ocr.json.code, 0);
    assert.equal(ocr.json.message, 'success');
    assert.equal(typeof ocr.json.sid, 'string');
    assert.equal(ocr.json.data.result, 'ABC DEF');
    const nlp = await call(sim, 'nlp', 'hello');
    assert.deepEqual(nlp.json.data.result, { length: 5 });
    assert.notEqual(ocr.json.sid, nlp.json.sid);
    assert.equal(sim.usage(APP, 'ocr'), 1);
    assert.equal(sim.usage(APP, 'nlp'), 1);
    assert.deepEqual([...HTTP_SERVICES], ['ocr', 'nlp']);
  });
});

test('bad requests: unknown service 404, missing text 400 (not metered), bad JSON 400, huge body 413', async () => {
  await withSim({}, async (sim) => {
    const unknown = await call(sim, 'tts');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 10404);

    const missing = await callWith(sim, 'ocr', {});
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.json, { code: 10106, message: 'invalid parameter: text' });
    assert.equal((await call(sim, 'ocr', 42)).status, 400);
    assert.equal((await callWith(sim, 'ocr', [1, 2])).status, 400);

    const badJson = await post(`${sim.url}/v1/ocr`, '{"text": ', { 'x-appid': APP, 'x-api-key': DEMO_ACCOUNT.apiKey });
    assert.equal(badJson.status, 400);
    assert.equal(typeof badJson.json.code, 'number');
    assert.notEqual(badJson.json.code, 0);

    const huge = await post(`${sim.url}/v1/ocr`, { text: 'x'.repeat(2 * 1024 * 1024) }, {
      'x-appid': APP,
      'x-api-key': DEMO_ACCOUNT.apiKey,
    });
    assert.equal(huge.status, 413);
    assert.equal(huge.json.code, 10413);

    const nowhere = await get(`${sim.url}/no/such/path`);
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.json.code, 10404);

    assert.equal(sim.usage(APP, 'ocr'), 0);
    // Still alive and answering after all of that.
    assert.equal((await call(sim, 'ocr')).status, 200);
  });
});

test('bad credentials are rejected with 401 11200 and never metered', async () => {
  await withSim({}, async (sim) => {
    const cases = [
      { appId: APP, apiKey: 'wrong-key' },
      { appId: 'ffff0000', apiKey: DEMO_ACCOUNT.apiKey },
      { appId: '', apiKey: '' },
    ];
    for (const creds of cases) {
      const r = await call(sim, 'ocr', 'hi', creds);
      assert.equal(r.status, 401);
      assert.deepEqual(r.json, { code: 11200, message: 'unauthorized: invalid api key or app id' });
    }
    assert.equal(sim.usage(APP, 'ocr'), 0);
    assert.equal(sim.usage('ffff0000', 'ocr'), 0);
    // The channel itself works: one good call, exactly one unit.
    await call(sim, 'ocr');
    assert.equal(sim.usage(APP, 'ocr'), 1);
  });
});

test('metering lags: unchanged right after the call, +1 after the lag', async () => {
  await withSim({}, async (sim) => {
    const LAG = 3000;
    sim.setLagMs(LAG);
    const session = await login(sim);
    const before = (await readUsage(sim, session, 'ocr')).json.data.usedCount;
    const t0 = Date.now();
    assert.equal((await call(sim, 'ocr')).status, 200);
    const early = (await readUsage(sim, session, 'ocr')).json.data.usedCount;
    const readAfter = Date.now() - t0;
    // A read answered within the lag must not see the unit. The call was answered after t0, so a read
    // done before t0 + LAG is inside the lag; one that a stalled machine made later may see it.
    if (readAfter < LAG) assert.equal(early, before, `read ${readAfter} ms after the call already counts it`);
    await waitFor(() => sim.usage(APP, 'ocr') === before + 1, { timeoutMs: 30_000 });
    assert.ok(Date.now() - t0 >= LAG - 50, 'landed too early');
    assert.equal((await readUsage(sim, session, 'ocr')).json.data.usedCount, before + 1);
  });
});

test('fault dropEvery 2: every second successful call is not metered, counting from when it was set', async () => {
  await withSim({}, async (sim) => {
    await call(sim, 'ocr'); // before the fault: does not count towards dropEvery
    sim.setFaults('ocr', { dropEvery: 2 });
    for (let i = 0; i < 4; i++) assert.equal((await call(sim, 'ocr')).status, 200);
    assert.equal(sim.usage(APP, 'ocr'), 1 + 2);
    // Per service: nlp is untouched.
    for (let i = 0; i < 2; i++) await call(sim, 'nlp');
    assert.equal(sim.usage(APP, 'nlp'), 2);
    // Setting the fault again restarts the count: the first call after it is metered.
    sim.setFaults('ocr', { dropEvery: 2 });
    await call(sim, 'ocr');
    assert.equal(sim.usage(APP, 'ocr'), 4);
  });
});

test('fault double: each successful call meters 2 units', async () => {
  await withSim({}, async (sim) => {
    sim.setFaults('nlp', { double: true });
    await call(sim, 'nlp');
    await call(sim, 'nlp');
    assert.equal(sim.usage(APP, 'nlp'), 4);
    assert.equal(sim.usage(APP, 'ocr'), 0);
  });
});

test('fault error5xx answers 500 and is not metered; with meterFailed it is', async () => {
  await withSim({}, async (sim) => {
    sim.setFaults('ocr', { error5xx: true });
    const r = await call(sim, 'ocr');
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { code: 10500, message: 'internal error' });
    assert.equal(sim.usage(APP, 'ocr'), 0);

    sim.setFaults('ocr', { error5xx: true, meterFailed: true });
    assert.equal((await call(sim, 'ocr')).status, 500);
    assert.equal(sim.usage(APP, 'ocr'), 1);

    // Rejected credentials stay unmetered even when failed calls are charged.
    assert.equal((await call(sim, 'ocr', 'x', { appId: APP, apiKey: 'bad' })).status, 401);
    assert.equal(sim.usage(APP, 'ocr'), 1);
  });
});

test('fault slowMs: the answer is delayed; a client that gave up is not metered', async () => {
  await withSim({}, async (sim) => {
    sim.setFaults('ocr', { slowMs: 300 });
    const ac = new AbortController();
    const aborted = post(`${sim.url}/v1/ocr`, { text: 'a' }, { 'x-appid': APP, 'x-api-key': DEMO_ACCOUNT.apiKey }, ac.signal);
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(aborted, { name: 'AbortError' });

    // A patient call started after the aborted one answers after it would have: when it has
    // answered, the abandoned call's moment has passed too, with no fixed sleep needed.
    const t0 = Date.now();
    const r = await call(sim, 'ocr');
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 >= 250, 'answer was not delayed');
    assert.equal(sim.usage(APP, 'ocr'), 1);
  });
});

test('fault acceptBadCredentials: bad key and unknown app id succeed and are metered to the app id sent', async () => {
  await withSim({}, async (sim) => {
    sim.setFaults('ocr', { acceptBadCredentials: true });
    const wrongKey = await call(sim, 'ocr', 'x', { appId: APP, apiKey: 'wrong' });
    assert.equal(wrongKey.status, 200);
    assert.equal(wrongKey.json.code, 0);
    const stranger = await call(sim, 'ocr', 'x', { appId: 'ffff0000', apiKey: 'wrong' });
    assert.equal(stranger.status, 200);
    assert.equal(sim.usage(APP, 'ocr'), 1);
    assert.equal(sim.usage('ffff0000', 'ocr'), 1);
    // Only that service.
    assert.equal((await call(sim, 'nlp', 'x', { appId: APP, apiKey: 'wrong' })).status, 401);
  });
});

test('global fault loginDown: login answers 503 until cleared', async () => {
  await withSim({}, async (sim) => {
    sim.setGlobalFaults({ loginDown: true });
    const r = await post(`${sim.url}/console/login`, { username: 'demo', password: 'demo-password' });
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { code: 50300, message: 'login service unavailable' });
    sim.clearFaults();
    assert.ok(await login(sim));
    assert.equal(sim.stats().logins, 2);
  });
});

test('global fault malformedUsage: usedCount is not a number', async () => {
  await withSim({}, async (sim) => {
    const session = await login(sim);
    sim.setGlobalFaults({ malformedUsage: true });
    const r = await readUsage(sim, session, 'ocr');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { code: 0, message: 'success', data: { appid: APP, service: 'ocr', usedCount: '--' } });
    sim.setGlobalFaults({});
    assert.equal((await readUsage(sim, session, 'ocr')).json.data.usedCount, 0);
  });
});

test('resetCounters sets today to 0; metering still pending lands afterwards', async () => {
  await withSim({}, async (sim) => {
    await call(sim, 'ocr');
    await call(sim, 'nlp');
    assert.equal(sim.usage(APP, 'ocr'), 1);
    const LAG = 3000;
    sim.setLagMs(LAG);
    const t0 = Date.now();
    await call(sim, 'ocr');
    // Still in flight unless a stalled machine took the whole lag to get here (then it landed before
    // the reset and is wiped with the rest).
    const inFlight = Date.now() - t0 < LAG;
    sim.resetCounters();
    assert.equal(sim.usage(APP, 'ocr'), 0);
    assert.equal(sim.usage(APP, 'nlp'), 0);
    if (inFlight) await waitFor(() => sim.usage(APP, 'ocr') === 1);
  });
});

test('setFaults refuses unknown services and bad values', async () => {
  await withSim({}, async (sim) => {
    assert.throws(() => sim.setFaults('tts', {}), /unknown service/);
    assert.throws(() => sim.setFaults('ocr', { dropEvery: 0 }), RangeError);
    assert.throws(() => sim.setFaults('ocr', { slowMs: -1 }), RangeError);
    assert.throws(() => sim.setFaults('ocr', { dubble: true } as never), /unknown fault/);
    assert.throws(() => sim.setLagMs(Number.NaN), RangeError);
  });
});

test('control API: state, faults, clear, reset-counters, expire-sessions', async () => {
  await withSim({}, async (sim) => {
    await call(sim, 'ocr');
    const state = await get(`${sim.url}/_sim/state`);
    assert.equal(state.status, 200);
    assert.equal(state.json.data.lagMs, 0);
    assert.equal(state.json.data.timezone, 'Asia/Shanghai');
    assert.deepEqual(state.json.data.counters, { [APP]: { ocr: 1 } });
    assert.deepEqual(state.json.data.faults, { ocr: {}, nlp: {} });

    const set = await post(`${sim.url}/_sim/faults`, {
      service: 'ocr',
      faults: { double: true },
      global: { malformedUsage: true },
      lagMs: 0,
    });
    assert.equal(set.status, 200);
    assert.deepEqual(set.json.data.faults.ocr, { double: true });
    assert.deepEqual(set.json.data.global, { malformedUsage: true });
    await call(sim, 'ocr');
    assert.equal(sim.usage(APP, 'ocr'), 3);

    // A bad request changes nothing, and says why.
    const bad = await post(`${sim.url}/_sim/faults`, { service: 'ocr', faults: { dropEvery: 'two' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /dropEvery/);
    const badService = await post(`${sim.url}/_sim/faults`, { service: 'tts', faults: {} });
    assert.equal(badService.status, 400);
    const badJson = await post(`${sim.url}/_sim/faults`, 'not json');
    assert.equal(badJson.status, 400);
    assert.deepEqual((await get(`${sim.url}/_sim/state`)).json.data.faults.ocr, { double: true });

    const cleared = await post(`${sim.url}/_sim/clear`, {});
    assert.deepEqual(cleared.json.data.faults, { ocr: {}, nlp: {} });
    assert.deepEqual(cleared.json.data.global, {});

    await post(`${sim.url}/_sim/reset-counters`, {});
    assert.equal(sim.usage(APP, 'ocr'), 0);

    const session = await login(sim);
    await post(`${sim.url}/_sim/expire-sessions`, {});
    assert.equal((await readUsage(sim, session, 'ocr')).json.code, 11001);
  });
});

test('close() clears pending timers and open requests: the charge never lands, the call fails, the port is shut', async () => {
  const sim = await startSimulator({ lagMs: 600_000 });
  await call(sim, 'ocr'); // a metering pending for ten minutes
  sim.setFaults('nlp', { slowMs: 600_000 });
  const hanging = call(sim, 'nlp'); // an answer pending for ten minutes
  await waitFor(() => sim.stats().calls.nlp === 1);
  // close() must not wait for either: if it did, this test would take ten minutes.
  await sim.close();
  await assert.rejects(hanging);
  assert.equal(sim.usage(APP, 'ocr'), 0);
  await sim.close(); // idempotent
  await assert.rejects(fetch(`${sim.url}/_sim/state`));
});

test('after close() nothing of the simulator keeps a process alive (a process of its own exits by itself)', async () => {
  // Counting the timers of this process would also count everyone else's; a process of its own that
  // only runs the simulator must end by itself once it is closed, ten minutes before its timers would.
  const platform = fileURLToPath(new URL('../src/sim/platform.ts', import.meta.url));
  const script = `
    const { startSimulator, DEMO_ACCOUNT } = await import(${JSON.stringify(platform)});
    const sim = await startSimulator({ lagMs: 600_000 });
    const headers = { 'content-type': 'application/json', 'x-appid': DEMO_ACCOUNT.appId, 'x-api-key': DEMO_ACCOUNT.apiKey };
    const body = JSON.stringify({ text: 'hi' });
    await fetch(sim.url + '/v1/ocr', { method: 'POST', headers, body });
    sim.setFaults('nlp', { slowMs: 600_000 });
    const hanging = fetch(sim.url + '/v1/nlp', { method: 'POST', headers, body }).then(() => 'answered', () => 'failed');
    for (let i = 0; i < 3000 && sim.stats().calls.nlp === 0; i++) await new Promise((r) => setTimeout(r, 10));
    console.log('pending ' + sim.stats().calls.nlp + ' ' + sim.usage(DEMO_ACCOUNT.appId, 'ocr'));
    await sim.close();
    console.log('closed ' + (await hanging));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // Only ends a child that hangs (the timers would keep it for ten minutes); a slow start is fine.
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(killer);
  assert.equal(signal, null, `the process was still alive two minutes on, kept by the simulator:\n${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /^pending 1 0\nclosed failed\n$/);
});

test('extra services (SimOptions.services) are served and metered like ocr; bad names are refused', async () => {
  await withSim({ services: ['over', 'late-charge'] }, async (sim) => {
    assert.deepEqual([...sim.services], ['ocr', 'nlp', 'over', 'late-charge']);
    const r = await call(sim, 'late-charge', 'abc');
    assert.equal(r.status, 200);
    assert.equal(r.json.data.result, 'ABC');
    assert.equal(sim.usage(APP, 'late-charge'), 1);
    assert.equal(sim.usage(APP, 'over'), 0);
    assert.equal(sim.stats().calls['late-charge'], 1);
    const bad = await post(`${sim.url}/_sim/faults`, { service: 'nope', faults: {} });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /late-charge/);
  });
  await assert.rejects(startSimulator({ services: ['Bad Name'] }), /not a lower-case name/);
  await assert.rejects(startSimulator({ services: ['ocr'] }), /given twice/);
});

test('fault lagMs: that service meters later than the platform; a charge in flight keeps the lag it had', async () => {
  await withSim({ lagMs: 0, services: ['late'] }, async (sim) => {
    const LAG = 3000;
    sim.setFaults('late', { lagMs: LAG });
    const t0 = Date.now();
    await call(sim, 'late');
    await call(sim, 'ocr');
    assert.equal(sim.usage(APP, 'ocr'), 1, 'other services keep the platform lag (0)');
    const notYet = sim.usage(APP, 'late');
    sim.setFaults('late', {});
    const afterClear = sim.usage(APP, 'late');
    // Both reads are within the lag unless a stalled machine took all of it to get here.
    if (Date.now() - t0 < LAG) {
      assert.equal(notYet, 0, 'not yet');
      assert.equal(afterClear, 0, 'clearing the lag does not move the charge in flight');
    }
    await waitFor(() => sim.usage(APP, 'late') === 1);
    assert.ok(Date.now() - t0 >= LAG - 50, 'the charge kept its lag');
    await call(sim, 'late');
    assert.equal(sim.usage(APP, 'late'), 2, 'back to the platform lag');
    assert.throws(() => sim.setFaults('late', { lagMs: -1 }), /lagMs/);
  });
});

test('fault usageDown: that service\'s usage reads answer 500, the others still answer', async () => {
  await withSim({}, async (sim) => {
    const session = await login(sim);
    const set = await post(`${sim.url}/_sim/faults`, { service: 'nlp', faults: { usageDown: true } });
    assert.equal(set.status, 200);
    const down = await readUsage(sim, session, 'nlp');
    assert.equal(down.status, 500);
    assert.equal(down.json.code, 10500);
    const up = await readUsage(sim, session, 'ocr');
    assert.equal(up.status, 200);
    assert.equal(up.json.data.usedCount, 0);
    sim.clearFaults();
    assert.equal((await readUsage(sim, session, 'nlp')).status, 200);
  });
});
