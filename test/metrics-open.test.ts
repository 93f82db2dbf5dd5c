// The OpenMetrics body is built from the rendered pieces (not by rewriting the whole text): it must
// equal the classic text converted line by line, at a size that spans several render slices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import type { ServiceConfig } from '../src/config/schema.js';
import { PatrolMetrics, toOpenMetrics } from '../src/metrics.js';
import type { ServiceResult, Verdict } from '../src/types.js';

const T = 1_700_000_000_000;

function result(i: number): ServiceResult {
  const verdicts: Verdict[] = ['ok', 'metering_mismatch', 'call_failed', 'count_query_failed'];
  const verdict = verdicts[i % verdicts.length];
  return {
    serviceId: `svc-${i}`,
    name: `服务 "${i}"`,
    appId: 'app',
    verdict,
    reason: verdict === 'ok' ? '' : verdict,
    startedAt: T,
    finishedAt: T + 2000 + i,
    before: { ok: true, value: 100 + i, at: T, day: 'd' },
    after: verdict === 'count_query_failed' ? { ok: false, reason: 'timeout', at: T } : { ok: true, value: 102 + i, at: T + 1500, day: 'd' },
    delta: verdict === 'count_query_failed' ? null : 2,
    expectedDelta: 2,
    meteringMode: 'exact',
    meteringOk: verdict === 'count_query_failed' ? null : verdict !== 'metering_mismatch',
    callOk: verdict !== 'call_failed',
    authOk: true,
    countQueryOk: verdict !== 'count_query_failed',
    settleSeconds: verdict === 'ok' ? 1.25 : null,
    calls: [{ name: 'call', kind: 'http', ok: verdict !== 'call_failed', durationSeconds: 0.1 + i / 1e4, reason: '', failures: [], units: 1, extracted: {} }],
    authChecks: [{ name: 'wrong_key', outcome: i % 3 === 0 ? 'accepted' : 'rejected', durationSeconds: 0.01, reason: '' }],
    ...(i % 7 === 0 ? { unexplained: { units: 3, kind: 'unexplained' as const, reason: 'x', since: { serviceId: `svc-${i}`, value: 1, at: T }, value: 4, at: T } } : {}),
  };
}

test('OpenMetrics from the pieces equals the classic text converted, at 600 services', async () => {
  const m = new PatrolMetrics(new Registry(), '1.2.3', 'abc123');
  const ids = Array.from({ length: 600 }, (_, i) => i);
  m.setServices(ids.map((i) => ({ id: `svc-${i}`, name: `服务 "${i}"`, app_id: 'app', enabled: true }) as unknown as ServiceConfig));
  m.recordRound({ id: 'r1', trigger: 'schedule', startedAt: T, finishedAt: T + 3000, durationSeconds: 3, aborted: false, services: ids.map(result) });
  const classic = await m.exposition(false);
  const open = await m.exposition(true);
  assert.ok(classic.includes('patrol_calls_total{service_id="svc-599"} 1'));
  assert.equal(open, toOpenMetrics(classic));
  assert.equal(gunzipSync(await m.body(true, true)).toString('utf8'), open);
});
