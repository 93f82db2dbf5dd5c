// The /metrics text on its own: each per-service family from plain round results (which samples
// exist, their values, label escaping), the counters across rounds, the exporter-wide gauges, the
// OpenMetrics form and the gzip body. No server: the exposition is read straight from PatrolMetrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Gauge, Registry } from 'prom-client';
import type { ServiceConfig } from '../src/config/schema.js';
import { PatrolMetrics, toOpenMetrics } from '../src/metrics.js';
import type { CallResult, RoundResult, ServiceResult } from '../src/types.js';

const T = 1_700_000_000_000;

function callOf(name: string, ok: boolean, seconds: number): CallResult {
  return { name, kind: 'http', ok, durationSeconds: seconds, reason: ok ? '' : 'status 500', failures: [], units: ok ? 1 : 0, extracted: {} };
}

function result(id: string, over: Partial<ServiceResult> = {}): ServiceResult {
  return {
    serviceId: id,
    name: id,
    appId: 'app1',
    verdict: 'ok',
    reason: '',
    startedAt: T,
    finishedAt: T + 2000,
    before: { ok: true, value: 100, at: T, day: 'd' },
    after: { ok: true, value: 102, at: T + 1500, day: 'd' },
    delta: 2,
    expectedDelta: 2,
    meteringMode: 'exact',
    meteringOk: true,
    callOk: true,
    authOk: true,
    countQueryOk: true,
    settleSeconds: 1.25,
    calls: [callOf('recognise', true, 0.1234567), callOf('again', true, 0.2)],
    authChecks: [{ name: 'wrong_key', outcome: 'rejected', durationSeconds: 0.01, reason: '' }],
    ...over,
  };
}

function round(services: ServiceResult[], over: Partial<RoundResult> = {}): RoundResult {
  return { id: `r${T}`, trigger: 'schedule', startedAt: T, finishedAt: T + 3000, durationSeconds: 3, aborted: false, services, ...over };
}

const config = (id: string, over: Record<string, unknown> = {}) => ({ id, name: `Name ${id}`, app_id: `app-${id}`, enabled: true, ...over }) as unknown as ServiceConfig;

/** Sample lines of the exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

function fresh(): PatrolMetrics {
  return new PatrolMetrics(new Registry(), '1.2.3', 'abc123');
}

test('an ok round: every per-service family, with its exact value', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  m.recordRound(round([result('ocr')]));
  const s = samples(await m.exposition(false));
  const sid = 'service_id="ocr"';
  assert.equal(s.get(`patrol_service_info{${sid},name="Name ocr",app_id="app-ocr"}`), '1');
  assert.equal(s.get(`patrol_service_success{${sid}}`), '1');
  assert.equal(s.get(`patrol_call_success{${sid}}`), '1');
  // Microsecond precision.
  assert.equal(s.get(`patrol_call_duration_seconds{${sid},call="recognise"}`), '0.123457');
  assert.equal(s.get(`patrol_call_duration_seconds{${sid},call="again"}`), '0.2');
  assert.equal(s.get(`patrol_auth_check_success{${sid},check="wrong_key"}`), '1');
  assert.equal(s.get(`patrol_usage_calls{${sid},phase="before"}`), '100');
  assert.equal(s.get(`patrol_usage_calls{${sid},phase="after"}`), '102');
  assert.equal(s.get(`patrol_count_query_success{${sid}}`), '1');
  assert.equal(s.get(`patrol_metering_delta{${sid}}`), '2');
  assert.equal(s.get(`patrol_metering_expected_delta{${sid}}`), '2');
  assert.equal(s.get(`patrol_metering_success{${sid}}`), '1');
  assert.equal(s.get(`patrol_metering_settle_seconds{${sid}}`), '1.25');
  assert.equal(s.get(`patrol_service_last_run_timestamp_seconds{${sid}}`), String((T + 2000) / 1000));
  assert.equal(s.get(`patrol_service_consecutive_failures{${sid}}`), '0');
  assert.equal(s.has(`patrol_metering_unexplained_delta{${sid}}`), false);
  assert.equal(s.get(`patrol_calls_total{${sid}}`), '2');
  assert.equal(s.get(`patrol_call_failures_total{${sid}}`), '0');
  assert.equal(s.get(`patrol_metering_checks_total{${sid}}`), '1');
  assert.equal(s.get(`patrol_metering_mismatches_total{${sid}}`), '0');
  assert.equal(s.get(`patrol_metering_unexplained_units_total{${sid}}`), '0');
  // Exporter-wide.
  assert.equal(s.get('patrol_rounds_total'), '1');
  assert.equal(s.get('patrol_round_failures_total'), '0');
  assert.equal(s.get('patrol_round_duration_seconds'), '3');
  assert.equal(s.get('patrol_last_round_timestamp_seconds'), String((T + 3000) / 1000));
  assert.equal(s.get(`patrol_build_info{version="1.2.3",revision="abc123",nodejs="${process.version}"}`), '1');
});

test('a failed round: values that were not known have no sample; zeros where the outcome was bad', async () => {
  const m = fresh();
  m.setServices([config('ocr'), config('asr')]);
  m.recordRound(
    round([
      result('ocr', {
        verdict: 'count_query_failed',
        callOk: false,
        calls: [callOf('recognise', false, 1)],
        before: { ok: false, reason: 'HTTP 500', at: T },
        after: null,
        delta: null,
        meteringOk: null,
        countQueryOk: false,
        settleSeconds: null,
        authChecks: [
          { name: 'wrong_key', outcome: 'accepted', durationSeconds: 0.01, reason: 'status 200' },
          { name: 'no_key', outcome: 'error', durationSeconds: 0.01, reason: 'refused' },
        ],
      }),
      result('asr', { verdict: 'metering_mismatch', meteringOk: false, delta: 3, after: { ok: false, reason: 'x', at: T }, unexplained: { units: 4, kind: 'unexplained', since: { serviceId: 'asr', value: 96, at: T - 60_000 }, value: 100, at: T, reason: 'usage nobody made' } }),
    ]),
  );
  const s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_service_success{service_id="ocr"}'), '0');
  assert.equal(s.get('patrol_call_success{service_id="ocr"}'), '0');
  assert.equal(s.get('patrol_auth_check_success{service_id="ocr",check="wrong_key"}'), '0');
  assert.equal(s.has('patrol_auth_check_success{service_id="ocr",check="no_key"}'), false);
  assert.equal(s.has('patrol_usage_calls{service_id="ocr",phase="before"}'), false);
  assert.equal(s.has('patrol_usage_calls{service_id="ocr",phase="after"}'), false);
  assert.equal(s.get('patrol_count_query_success{service_id="ocr"}'), '0');
  assert.equal(s.has('patrol_metering_delta{service_id="ocr"}'), false);
  assert.equal(s.get('patrol_metering_expected_delta{service_id="ocr"}'), '2');
  assert.equal(s.has('patrol_metering_success{service_id="ocr"}'), false);
  assert.equal(s.has('patrol_metering_settle_seconds{service_id="ocr"}'), false);
  assert.equal(s.get('patrol_service_consecutive_failures{service_id="ocr"}'), '1');
  assert.equal(s.get('patrol_calls_total{service_id="ocr"}'), '1');
  assert.equal(s.get('patrol_call_failures_total{service_id="ocr"}'), '1');
  assert.equal(s.get('patrol_metering_checks_total{service_id="ocr"}'), '0');
  // asr: a mismatch, and usage between rounds.
  assert.equal(s.get('patrol_usage_calls{service_id="asr",phase="before"}'), '100');
  assert.equal(s.has('patrol_usage_calls{service_id="asr",phase="after"}'), false);
  assert.equal(s.get('patrol_metering_success{service_id="asr"}'), '0');
  assert.equal(s.get('patrol_metering_delta{service_id="asr"}'), '3');
  assert.equal(s.get('patrol_metering_checks_total{service_id="asr"}'), '1');
  assert.equal(s.get('patrol_metering_mismatches_total{service_id="asr"}'), '1');
  assert.equal(s.get('patrol_metering_unexplained_delta{service_id="asr"}'), '4');
  assert.equal(s.get('patrol_metering_unexplained_units_total{service_id="asr"}'), '4');
  assert.equal(s.get('patrol_rounds_total'), '1');
  assert.equal(s.get('patrol_round_failures_total'), '1');
});

test('counters add up across rounds; streaks count failures, keep through indeterminate, reset on ok', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  const bad = () => result('ocr', { verdict: 'call_failed', callOk: false, calls: [callOf('a', false, 1), callOf('b', true, 1)], meteringOk: false, unexplained: { units: 2, kind: 'late_charge', since: { serviceId: 'ocr', value: 1, at: T }, value: 3, at: T, reason: 'late' } });
  const streak = async () => samples(await m.exposition(false)).get('patrol_service_consecutive_failures{service_id="ocr"}');
  m.recordRound(round([bad()]));
  m.recordRound(round([bad()]));
  assert.equal(await streak(), '2');
  // A late charge is the service's own call charged late: nobody else's usage, so the gauge says 0
  // (its units still count in the total below).
  assert.equal(samples(await m.exposition(false)).get('patrol_metering_unexplained_delta{service_id="ocr"}'), '0');
  assert.equal(m.failureStreak('ocr'), 2);
  m.recordRound(round([result('ocr', { verdict: 'indeterminate', meteringOk: null })]));
  assert.equal(await streak(), '2');
  const s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_calls_total{service_id="ocr"}'), '6');
  assert.equal(s.get('patrol_call_failures_total{service_id="ocr"}'), '2');
  assert.equal(s.get('patrol_metering_checks_total{service_id="ocr"}'), '2');
  assert.equal(s.get('patrol_metering_mismatches_total{service_id="ocr"}'), '2');
  assert.equal(s.get('patrol_metering_unexplained_units_total{service_id="ocr"}'), '4');
  assert.equal(s.get('patrol_rounds_total'), '3');
  // Any verdict but ok makes a failed round, indeterminate too.
  assert.equal(s.get('patrol_round_failures_total'), '3');
  m.recordRound(round([result('ocr')]));
  assert.equal(await streak(), '0');
  // Restored from the history at start.
  m.restoreFailureStreaks(new Map([['ocr', 7]]));
  assert.equal(await streak(), '7');
  assert.equal(m.failureStreak('ocr'), 7);
  assert.equal(m.failureStreak('unknown'), 0);
});

test('a round cut short: its unfinished services keep their previous values and are not counted', async () => {
  const m = fresh();
  m.setServices([config('ocr'), config('asr'), config('tts')]);
  m.recordRound(round([result('ocr', { delta: 5, expectedDelta: 5 }), result('asr'), result('tts', { delta: 9, expectedDelta: 9 })], { durationSeconds: 4 }));
  m.recordRound(
    round([result('asr', { verdict: 'call_failed', callOk: false })], {
      aborted: true,
      durationSeconds: 99,
      finishedAt: T + 99_000,
      abortedServices: [
        { serviceId: 'ocr', name: 'ocr', appId: 'a', startedAt: T, reason: 'shutdown' },
        { serviceId: 'never', name: 'never', appId: 'a', startedAt: T, reason: 'shutdown' },
      ],
    }),
  );
  const s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_metering_delta{service_id="ocr"}'), '5');
  assert.equal(s.get('patrol_service_success{service_id="asr"}'), '0');
  // tts was neither finished nor cut short in that round: it has no per-round sample any more.
  assert.equal(s.has('patrol_metering_delta{service_id="tts"}'), false);
  assert.equal(s.has('patrol_service_success{service_id="never"}'), false);
  assert.equal(s.get('patrol_calls_total{service_id="ocr"}'), '2');
  assert.equal(s.get('patrol_calls_total{service_id="asr"}'), '4');
  assert.equal(s.get('patrol_rounds_total'), '1');
  assert.equal(s.get('patrol_rounds_aborted_total'), '1');
  assert.equal(s.get('patrol_round_failures_total'), '0');
  assert.equal(s.get('patrol_round_duration_seconds'), '4');
  assert.equal(s.get('patrol_last_round_timestamp_seconds'), String((T + 3000) / 1000));
});

test('the config decides the info series; counters of services that stay are kept across reloads', async () => {
  const m = fresh();
  m.setServices([config('ocr'), config('off', { enabled: false }), config('plain', { name: undefined })]);
  let s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_service_info{service_id="plain",name="plain",app_id="app-plain"}'), '1');
  assert.equal(s.has('patrol_service_info{service_id="off",name="Name off",app_id="app-off"}'), false);
  assert.equal(s.has('patrol_calls_total{service_id="off"}'), false);
  // New services start at 0, before their first round, so rate() works from it.
  assert.equal(s.get('patrol_calls_total{service_id="plain"}'), '0');
  assert.equal(s.get('patrol_service_consecutive_failures{service_id="plain"}'), '0');
  m.recordRound(round([result('ocr')]));
  m.setServices([config('ocr', { name: 'Renamed' })]);
  s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_service_info{service_id="ocr",name="Renamed",app_id="app-ocr"}'), '1');
  assert.equal(s.has('patrol_service_info{service_id="plain",name="plain",app_id="app-plain"}'), false);
  assert.equal(s.get('patrol_calls_total{service_id="ocr"}'), '2');
});

test('label values are escaped; odd numbers are written the way the text format spells them', async () => {
  const m = fresh();
  const id = 'a"b\\c\nd';
  m.setServices([config(id, { name: 'plain name', app_id: 'x"y' })]);
  m.recordRound(round([result(id, { settleSeconds: Infinity, calls: [callOf('c"1', true, Number.NaN)] })]));
  const text = await m.exposition(false);
  assert.ok(text.includes('patrol_service_info{service_id="a\\"b\\\\c\\nd",name="plain name",app_id="x\\"y"} 1\n'), text);
  assert.ok(text.includes('patrol_call_duration_seconds{service_id="a\\"b\\\\c\\nd",call="c\\"1"} NaN\n'));
  assert.ok(text.includes('patrol_metering_settle_seconds{service_id="a\\"b\\\\c\\nd"} +Inf\n'));
  m.recordRound(round([result(id, { settleSeconds: -Infinity, finishedAt: Number.NaN })]));
  const again = await m.exposition(false);
  assert.ok(again.includes('patrol_metering_settle_seconds{service_id="a\\"b\\\\c\\nd"} -Inf\n'));
  assert.ok(again.includes('patrol_service_last_run_timestamp_seconds{service_id="a\\"b\\\\c\\nd"} NaN\n'));
  // A value with a backslash, a quote or a newline only, and nothing else.
  for (const [raw, shown] of [['x\\y', 'x\\\\y'], ['x"y', 'x\\"y'], ['x\ny', 'x\\ny'], ['"', '\\"'], ['\\', '\\\\'], ['\n', '\\n']]) {
    const one = fresh();
    one.setServices([config(raw)]);
    assert.ok((await one.exposition(false)).includes(`patrol_service_info{service_id="${shown}",`), raw);
  }
});

test('the build info says "unknown" when no revision is given', async () => {
  const m = new PatrolMetrics(new Registry(), '9.9.9');
  assert.equal(samples(await m.exposition(false)).get(`patrol_build_info{version="9.9.9",revision="unknown",nodejs="${process.version}"}`), '1');
  assert.match(await m.exposition(false), /^# HELP patrol_rounds_total Inspection rounds completed \(those cut short by shutdown are counted in patrol_rounds_aborted_total instead\)\. Rounds run on/m);
});

test('a round with one failed service among ok ones is a failed round; a service not in the config is still counted', async () => {
  const m = fresh();
  m.recordRound(round([result('ok1'), result('bad', { verdict: 'call_failed', callOk: false, before: null, after: null, delta: null, meteringOk: null, countQueryOk: false }), result('ok2')]));
  const s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_round_failures_total'), '1');
  assert.equal(s.get('patrol_calls_total{service_id="bad"}'), '2');
  assert.equal(s.get('patrol_service_success{service_id="bad"}'), '0');
  assert.equal(s.has('patrol_usage_calls{service_id="bad",phase="before"}'), false);
  assert.equal(s.get('patrol_service_success{service_id="ok2"}'), '1');
});

test('every family has its HELP and TYPE, in the contract order, each block ended by an empty line', async () => {
  const m = fresh();
  const text = await m.exposition(false);
  const types = [...text.matchAll(/^# TYPE (patrol_\S+) (\S+)$/gm)].map((x) => `${x[1]} ${x[2]}`);
  assert.deepEqual(types.slice(0, 19), [
    'patrol_service_info gauge',
    'patrol_service_success gauge',
    'patrol_call_success gauge',
    'patrol_call_duration_seconds gauge',
    'patrol_auth_check_success gauge',
    'patrol_usage_calls gauge',
    'patrol_count_query_success gauge',
    'patrol_metering_delta gauge',
    'patrol_metering_expected_delta gauge',
    'patrol_metering_success gauge',
    'patrol_metering_settle_seconds gauge',
    'patrol_service_last_run_timestamp_seconds gauge',
    'patrol_service_consecutive_failures gauge',
    'patrol_metering_unexplained_delta gauge',
    'patrol_metering_unexplained_units_total counter',
    'patrol_calls_total counter',
    'patrol_call_failures_total counter',
    'patrol_metering_checks_total counter',
    'patrol_metering_mismatches_total counter',
  ]);
  assert.match(text, /^# HELP patrol_service_info What each inspected service is \(always 1\)\.\n# TYPE patrol_service_info gauge\n\n# HELP patrol_service_success /);
});

test('exporter-wide gauges and counters follow their events', async () => {
  const m = fresh();
  const get = async (name: string) => samples(await m.exposition(false)).get(name);
  m.configLoaded(false);
  assert.equal(await get('patrol_config_last_reload_successful'), '0');
  assert.equal(await get('patrol_config_last_reload_success_timestamp_seconds'), '0');
  const before = Date.now() / 1000;
  m.configLoaded(true);
  assert.equal(await get('patrol_config_last_reload_successful'), '1');
  const at = Number(await get('patrol_config_last_reload_success_timestamp_seconds'));
  assert.ok(at >= before && at <= Date.now() / 1000, String(at));
  m.setNextRound(new Date(T));
  assert.equal(await get('patrol_next_round_timestamp_seconds'), String(T / 1000));
  // No next round (stopped): reset, which prom-client writes as 0 for a metric without labels.
  m.setNextRound(null);
  assert.equal(await get('patrol_next_round_timestamp_seconds'), '0');
  m.digestDelivered(T);
  assert.equal(await get('patrol_digest_last_success_timestamp_seconds'), String(T / 1000));
  const now = Date.now() / 1000;
  m.digestDelivered();
  assert.ok(Number(await get('patrol_digest_last_success_timestamp_seconds')) >= now);
  m.digestFailed();
  m.digestFailed();
  assert.equal(await get('patrol_digest_failures_total'), '2');
  m.setOutboxMessages(3);
  assert.equal(await get('patrol_digest_outbox_messages'), '3');
  m.historyWriteFailed();
  assert.equal(await get('patrol_history_write_failures_total'), '1');
  m.roundSkipped();
  assert.equal(await get('patrol_rounds_skipped_total'), '1');
});

test('the cached per-service text is replaced after every change', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  const count = async () => samples(await m.exposition(false)).get('patrol_calls_total{service_id="ocr"}');
  assert.equal(await count(), '0');
  m.recordRound(round([result('ocr')]));
  assert.equal(await count(), '2');
  m.setServices([config('ocr'), config('asr')]);
  assert.equal(samples(await m.exposition(false)).get('patrol_calls_total{service_id="asr"}'), '0');
  m.restoreFailureStreaks(new Map([['ocr', 3]]));
  assert.equal(samples(await m.exposition(false)).get('patrol_service_consecutive_failures{service_id="ocr"}'), '3');
});

test('OpenMetrics: counter families named without _total, one # EOF at the very end', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  m.recordRound(round([result('ocr')]));
  const open = await m.exposition(true);
  assert.ok(open.endsWith('\n# EOF\n'));
  assert.equal(open.match(/# EOF/g)?.length, 1);
  assert.ok(!open.includes('\n\n'), 'no empty line in OpenMetrics');
  assert.match(open, /^# TYPE patrol_calls counter$/m);
  assert.match(open, /^# HELP patrol_calls Calls made/m);
  assert.match(open, /^patrol_calls_total\{service_id="ocr"\} 2$/m);
  assert.match(open, /^# TYPE patrol_rounds counter$/m);
  assert.match(open, /^# TYPE patrol_service_success gauge$/m);
  // Asked again (served from the cache), the same text.
  assert.equal(await m.exposition(true), open);
  // The classic form is unchanged by it.
  assert.match(await m.exposition(false), /^# TYPE patrol_calls_total counter$/m);
  // Every line is a comment or a sample: nothing left between the two parts.
  for (const line of open.trimEnd().split('\n')) assert.match(line, /^(# (HELP|TYPE|EOF)( .*)?|[a-z_]+(\{[^}]*\})? \S+)$/, line);
  // A label value that looks like a comment is data, and a HELP text that mentions a TYPE line declares nothing.
  assert.equal(
    toOpenMetrics('# HELP a_total says # TYPE b_total counter\n# TYPE a_total gauge\n# HELP b_total b\nb_total{name="# HELP b_total x"} 1\n# TYPE c_total counter\nc_total{name="# TYPE c_total counter"} 2\n'),
    '# HELP a_total says # TYPE b_total counter\n# TYPE a_total gauge\n# HELP b_total b\nb_total{name="# HELP b_total x"} 1\n# TYPE c counter\nc_total{name="# TYPE c_total counter"} 2\n# EOF\n',
  );
  assert.equal(toOpenMetrics('# HELP x_total a\n# TYPE x_total counter\nx_total 1\n\n# TYPE y gauge\n# TYPE z counter\n'), '# HELP x a\n# TYPE x counter\nx_total 1\n# TYPE y gauge\n# TYPE z counter\n# EOF\n');
});

test('gzip: the body decompresses to the exposition, classic (cached head) and OpenMetrics', async () => {
  const m = fresh();
  m.setServices([config('ocr'), config('asr')]);
  m.recordRound(round([result('ocr'), result('asr')]));
  for (const open of [false, true]) {
    const plain = await m.body(open, false);
    assert.equal(plain.toString('utf8'), await m.exposition(open));
    const zipped = await m.body(open, true);
    assert.deepEqual(zipped.subarray(0, 2), Buffer.from([0x1f, 0x8b]));
    assert.equal(gunzipSync(zipped).toString('utf8'), plain.toString('utf8'), `openMetrics ${open}`);
    // The second time (the kept body dropped) the compressed head comes from the cache: still one valid stream.
    m.registryChanged();
    assert.equal(gunzipSync(await m.body(open, true)).toString('utf8'), plain.toString('utf8'));
  }
  m.recordRound(round([result('ocr', { delta: 7 })]));
  assert.match(gunzipSync(await m.body(false, true)).toString('utf8'), /^patrol_metering_delta\{service_id="ocr"\} 7$/m);
});

test('the live family: between the per-service families and the registry\'s part, in every format and in gzip; a new text served at once when its owner says so', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  m.recordRound(round([result('ocr')]));
  let live = Buffer.from('# HELP test_live A family kept elsewhere.\n# TYPE test_live gauge\ntest_live{service_id="ocr"} 1\n');
  let asked = 0;
  m.setLiveFamily(() => {
    asked++;
    return live;
  });
  for (const open of [false, true]) {
    const text = await m.exposition(open);
    const at = text.indexOf('# HELP test_live');
    assert.ok(at > text.indexOf('patrol_metering_mismatches_total{'), 'after the per-service families');
    assert.ok(at < text.indexOf('# HELP patrol_build_info'), "before the registry's part");
    assert.equal(gunzipSync(await m.body(open, true)).toString('utf8'), text, `gzip, openMetrics ${open}`);
    assert.equal((await m.body(open, false)).toString('utf8'), text);
  }
  assert.ok(asked >= 4, 'asked at each render of a body');
  // Another text (a window started or ended): served at once when the owner says it changed.
  live = Buffer.from('# HELP test_live A family kept elsewhere.\n# TYPE test_live gauge\ntest_live{service_id="ocr"} 0\n');
  m.registryChanged();
  const plain = await m.body(false, false);
  assert.match(plain.toString('utf8'), /^test_live\{service_id="ocr"\} 0$/m);
  assert.equal(gunzipSync(await m.body(false, true)).toString('utf8'), plain.toString('utf8'), 'the new text deflated, not the old one');
  m.setLiveFamily(null);
  assert.doesNotMatch(await m.exposition(false), /test_live/);
});

/** A gauge on the metrics' own registry that counts how often the registry's part was rendered. */
function collections(m: PatrolMetrics, failFirst = false): { count: () => number } {
  let n = 0;
  new Gauge({
    name: 'test_collections',
    help: 'Times the registry was collected.',
    registers: [m.registry],
    collect() {
      n++;
      if (failFirst && n === 1) throw new Error('collect failed');
      this.set(n);
    },
  });
  return { count: () => n };
}

test('a served body is kept for a second per format: scrapers at once share one render of the registry\'s part', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  const c = collections(m);
  // Asked twice in the same moment (no await between): one render.
  const [a, b] = await Promise.all([m.body(false, false), m.body(false, false)]);
  assert.equal(c.count(), 1);
  assert.deepEqual(a, b);
  assert.match(a.toString('utf8'), /^test_collections 1$/m);
  // Each format is a body of its own.
  await m.body(true, false);
  await m.body(false, true);
  assert.equal(c.count(), 3);
  assert.equal((await m.body(false, false)).toString('utf8'), a.toString('utf8'), 'still within the second');
  // After the second, rendered afresh (waited for, never bounded from above).
  const from = performance.now();
  for (let i = 0; i < 200 && performance.now() - from <= 1000; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(performance.now() - from > 1000);
  assert.match((await m.body(false, false)).toString('utf8'), /^test_collections 4$/m);
});

test('a kept body is dropped by any change made through the metrics: round, config, exporter-wide gauges', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  const text = async () => (await m.body(false, false)).toString('utf8');
  await text();
  m.setOutboxMessages(5);
  assert.match(await text(), /^patrol_digest_outbox_messages 5$/m);
  m.recordRound(round([result('ocr', { delta: 9 })]));
  assert.match(await text(), /^patrol_metering_delta\{service_id="ocr"\} 9$/m);
  m.setServices([config('ocr'), config('asr')]);
  assert.match(await text(), /^patrol_calls_total\{service_id="asr"\} 0$/m);
});

test('a failed render is not kept, and only drops its own entry', async () => {
  const m = fresh();
  const c = collections(m, true);
  await assert.rejects(m.body(false, false), /collect failed/);
  // Asked again at once: rendered again, not the failure.
  assert.match((await m.body(false, false)).toString('utf8'), /^test_collections 2$/m);
  assert.equal(c.count(), 2);

  // A failure that ends after a change replaced its entry leaves the new entry alone...
  const n = fresh();
  const e = collections(n, true);
  const failing = n.body(false, false);
  n.setOutboxMessages(1);
  const good = n.body(false, false);
  await assert.rejects(failing, /collect failed/);
  await good;
  await new Promise((r) => setImmediate(r));
  assert.equal((await n.body(false, false)).toString('utf8'), (await good).toString('utf8'));
  assert.equal(e.count(), 2, 'the good body stayed kept');
  // ...and one that ends after a change cleared its entry (nothing in its place) fails quietly.
  const o = fresh();
  collections(o, true);
  const alone = o.body(false, false);
  o.setOutboxMessages(2);
  await assert.rejects(alone, /collect failed/);
  await new Promise((r) => setImmediate(r));
  assert.match((await o.body(false, false)).toString('utf8'), /^patrol_digest_outbox_messages 2$/m);
});

test('a maintenance verdict: no per-round sample for the held service, not a failed round, its streak kept', async () => {
  const m = fresh();
  m.setServices([config('ok1'), config('held')]);
  const failed = { verdict: 'call_failed' as const, callOk: false, before: null, after: null, delta: null, meteringOk: null, countQueryOk: false };
  m.recordRound(round([result('ok1'), result('held', failed)]));
  // Held by a window: nothing was called, as the engine's maintenance result says.
  const held = result('held', { verdict: 'maintenance', reason: 'window', before: null, after: null, delta: null, expectedDelta: 0, meteringOk: null, authOk: null, settleSeconds: null, calls: [], authChecks: [] });
  m.recordRound(round([result('ok1'), held]));
  const s = samples(await m.exposition(false));
  assert.equal(s.get('patrol_rounds_total'), '2');
  assert.equal(s.get('patrol_round_failures_total'), '1', 'only the first round failed');
  for (const family of ['patrol_service_success', 'patrol_call_success', 'patrol_count_query_success', 'patrol_metering_expected_delta']) {
    assert.equal(s.has(`${family}{service_id="held"}`), false, `${family} has no sample while held`);
    assert.equal(s.has(`${family}{service_id="ok1"}`), true, `${family} of ok1`);
  }
  assert.equal(s.get('patrol_service_consecutive_failures{service_id="held"}'), '1');
  assert.equal(s.get('patrol_calls_total{service_id="held"}'), '2', 'the held round made no call');
});

test('registryChanged: a metric registered by someone else is rendered again at once, not after the second', async () => {
  const m = fresh();
  const c = collections(m);
  await m.body(false, false);
  await m.body(false, false);
  assert.equal(c.count(), 1, 'kept within the second');
  m.registryChanged();
  await m.body(false, false);
  assert.equal(c.count(), 2);
});

/** 1,200 services (enough for a render to take several turns of the event loop), round 1 rendered; `deltas` reads a body's metering deltas. */
async function manyServices(): Promise<{ m: PatrolMetrics; roundWith: (delta: number) => RoundResult; deltas: (body: Buffer) => Set<string> }> {
  const m = fresh();
  const ids = Array.from({ length: 1200 }, (_, i) => `svc${i}`);
  m.setServices(ids.map((id) => config(id)));
  const roundWith = (delta: number) => round(ids.map((id) => result(id, { delta })));
  const deltas = (body: Buffer) => new Set(body.toString('utf8').match(/^patrol_metering_delta\{[^}]*\} \d+$/gm)!.map((l) => l.split(' ')[1]));
  m.recordRound(roundWith(1));
  await m.body(false, false);
  return { m, roundWith, deltas };
}

/** Renders of the per-service text, started and finished, counted on the instance itself (the text of a second render would be byte for byte the same). */
function countRenders(m: PatrolMetrics): { started: () => number; finished: () => number } {
  const target = m as unknown as { renderServices: () => Promise<unknown> };
  const render = target.renderServices.bind(m);
  let started = 0;
  let finished = 0;
  target.renderServices = () => {
    started++;
    return render().finally(() => finished++);
  };
  return { started: () => started, finished: () => finished };
}

/** Turns of the event loop until `done()` (bounded: 1,000 turns; the render of one service takes a few). */
async function turnsUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
}

test('a scrape during another scrape\'s render is served the newest finished text at once; the scrape that started it, and every one after, the new state', async () => {
  const { m, roundWith, deltas } = await manyServices();
  m.recordRound(roundWith(2));
  const starter = m.body(false, false);
  // Asked while that render is under way: the previous round's text, whole, plain and gzip.
  const during = m.body(false, false);
  const duringGzip = m.body(false, true);
  const first = await Promise.race([starter.then(() => 'starter'), during.then(() => 'during')]);
  assert.equal(first, 'during', 'the scrape during the render did not wait for it');
  assert.deepEqual(deltas(await during), new Set(['1']));
  assert.deepEqual(deltas(gunzipSync(await duringGzip)), new Set(['1']));
  assert.deepEqual(deltas(await starter), new Set(['2']), 'the scrape that started the render waits for the new state');
  assert.deepEqual(deltas(await m.body(false, false)), new Set(['2']));
  assert.deepEqual(deltas(gunzipSync(await m.body(false, true))), new Set(['2']), 'nothing made during the render is served after it');

  // The next render: a scrape during it gets the text just finished (2), not one made during the last render (1).
  m.recordRound(roundWith(3));
  const starter3 = m.body(false, false);
  assert.deepEqual(deltas(gunzipSync(await m.body(false, true))), new Set(['2']));
  await starter3;

  // A round that ends during a render: the next scrape starts a render of it and waits, never the older text.
  m.recordRound(roundWith(3));
  const old = m.body(false, false);
  m.recordRound(roundWith(4));
  assert.deepEqual(deltas(await m.body(false, false)), new Set(['4']));
  assert.deepEqual(deltas(await old), new Set(['3']));
});

test('one render per state: scrapes in every format after it share it, and a change starts one more', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  m.recordRound(round([result('ocr')]));
  const renders = countRenders(m);
  await m.body(false, false);
  await m.body(true, false);
  await m.body(false, true);
  await m.body(true, true);
  await m.exposition(false);
  assert.equal(renders.started(), 1);
  m.recordRound(round([result('ocr', { delta: 5 })]));
  await m.body(false, false);
  await m.body(false, true);
  assert.equal(renders.started(), 2);
});

test('a change is rendered before any scrape asks: the first scrape after a round is served without a render of its own, with that round', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  const renders = countRenders(m);
  m.recordRound(round([result('ocr', { delta: 3 })]));
  await turnsUntil(() => renders.finished() >= 1);
  assert.equal(renders.started(), 1, 'rendered once, with nobody scraping (the config and the round in one render)');
  assert.match((await m.body(false, false)).toString('utf8'), /^patrol_metering_delta\{service_id="ocr"\} 3$/m);
  assert.equal(renders.started(), 1, 'the scrape used it');
  // And every later change too.
  m.recordRound(round([result('ocr', { delta: 4 })]));
  await turnsUntil(() => renders.finished() >= 2);
  assert.equal(renders.started(), 2, 'the next round rendered with nobody scraping');
  assert.match((await m.body(false, false)).toString('utf8'), /^patrol_metering_delta\{service_id="ocr"\} 4$/m);
  assert.equal(renders.started(), 2);
});

test('during a render nobody asked for, the first scrape waits for it (the new round) and the next one is served the previous text', async () => {
  const { m, roundWith, deltas } = await manyServices();
  m.recordRound(roundWith(2));
  // One turn: the render of round 2 has started on its own, and is not finished (1,200 services).
  await new Promise((resolve) => setImmediate(resolve));
  const first = m.body(false, false);
  const second = m.body(false, false);
  assert.deepEqual(deltas(await second), new Set(['1']), 'the previous round, whole');
  assert.deepEqual(deltas(await first), new Set(['2']), 'the new round');
  assert.deepEqual(deltas(await m.body(false, false)), new Set(['2']));
});

test('the formats asked for with gzip are deflated ahead when a change is rendered, and only those', async () => {
  const m = fresh();
  m.setServices([config('ocr')]);
  m.recordRound(round([result('ocr')]));
  await m.body(true, true);
  const state = m as unknown as { rendering: boolean; finished: { seq: number; rendered: { deflated: { open: unknown; text: unknown } } } | null };
  const seq = state.finished!.seq;
  m.recordRound(round([result('ocr', { delta: 6 })]));
  await turnsUntil(() => state.finished!.seq !== seq && !state.rendering);
  assert.notEqual(state.finished!.seq, seq, 'the new round rendered with nobody scraping');
  assert.notEqual(state.finished!.rendered.deflated.open, null, 'OpenMetrics was asked for with gzip: deflated ahead');
  assert.equal(state.finished!.rendered.deflated.text, null, 'the classic format was not: left until asked');
  const open = await m.body(true, false);
  assert.match(open.toString('utf8'), /^patrol_metering_delta\{service_id="ocr"\} 6$/m);
  assert.equal(gunzipSync(await m.body(true, true)).toString('utf8'), open.toString('utf8'));
});
