// Authorization checks end to end: each bad credential (wrong secret, wrong key, stale date, unknown
// app id) against the simulator's signed services must be rejected and add nothing to the counter;
// when the platform accepts one (a fault), the verdict is auth_failed and
// patrol_auth_check_success goes to 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { PatrolMetrics } from '../src/metrics.js';
import type { RoundResult } from '../src/types.js';
import { withSim } from './helpers/harness.js';
import { APP, round, wsConfig } from './helpers/xfyun-config.js';
import { assertNoSecrets } from './helpers/secrets.js';

const GOOD_SIGN = 'sign: { type: xfyun-hmac, api_key: "{{params.api_key}}", api_secret: "{{params.api_secret}}" }';

/** The iat service's checks; `staleStatus`: what the stale date's refusal is expected to be. */
const iatChecks = (staleStatus = 403) => `
      - name: wrong_secret
        websocket: *iat
        sign: { type: xfyun-hmac, api_key: "{{params.api_key}}", api_secret: "wrong-secret-0000" }
        rejected_when: { status: 401, json: [{ path: message, equals: "HMAC signature does not match" }] }
      - name: wrong_key
        websocket: *iat
        sign: { type: xfyun-hmac, api_key: "wrong-key-0000", api_secret: "{{params.api_secret}}" }
      - name: stale_date
        websocket: *iat
        sign: { type: xfyun-hmac, api_key: "{{params.api_key}}", api_secret: "{{params.api_secret}}", date_offset: -6m }
        rejected_when: { status: ${staleStatus} }
      - name: unknown_app_id
        websocket: *iat
        app_id: "00000000"
        ${GOOD_SIGN}
        rejected_when: { first_frame: [{ path: code, equals: 10313 }] }
`;

// The REST service signed with X-CheckSum; its refusals are HTTP 200 with a business code. A second,
// unmetered call reads the usage API with the platform's session (sign type session).
const WEBOCR = `
  - id: webocr
    app_id: ${APP}
    business_id: webocr
    params: { api_key: "\${XF_API_KEY}" }
    calls:
      - name: recognise
        http: &webocr
          method: POST
          url: "{{vars.platform_url}}/v1/service/v1/webocr"
          json: { text: "patrol" }
        sign: { type: xfyun-checksum, api_key: "{{params.api_key}}", param: { language: en, location: "false" } }
        expect: { status: 200, json: [{ path: code, equals: "0" }, { path: data.result, equals: PATROL }] }
      - name: usage_with_session
        units: 0
        http:
          url: "{{vars.platform_url}}/console/usage"
          query: { appid: "{{app_id}}", service: webocr }
        sign: { type: session }
        expect: { status: 200, json: [{ path: code, equals: 0 }] }
    auth_checks:
      - name: wrong_key
        http: *webocr
        sign: { type: xfyun-checksum, api_key: "wrong-key-0000", param: { language: en } }
        rejected_when: { status: 200, json: [{ path: code, equals: "10105" }] }
      - name: stale_time
        http: *webocr
        sign: { type: xfyun-checksum, api_key: "{{params.api_key}}", param: { language: en }, time_offset: -10m }
        rejected_when: { status: 200, json: [{ path: code, equals: "10105" }] }
      - name: unknown_app_id
        http: *webocr
        app_id: "00000000"
        sign: { type: xfyun-checksum, api_key: "{{params.api_key}}", param: { language: en } }
        rejected_when: { status: 200, json: [{ path: code, equals: "10313" }] }
`;

const CONFIG = wsConfig({ iatChecks: iatChecks(), services: WEBOCR });

async function authMetric(r: RoundResult): Promise<Record<string, number>> {
  const registry = new Registry();
  const metrics = new PatrolMetrics(registry, 'test');
  metrics.recordRound(r);
  // Read from the exposition Prometheus scrapes, whatever way the metrics class produces it.
  const text = await metrics.exposition(false);
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^patrol_auth_check_success\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out[`${labels.service_id}/${labels.check}`] = Number(m[2]);
  }
  return out;
}

test('every bad credential is rejected, nothing extra is metered, the verdict is ok', async () => {
  await withSim({}, async (sim) => {
    const r = await round(sim, CONFIG, ['iat', 'webocr']);
    for (const s of r.services) {
      assert.equal(s.verdict, 'ok', `${s.serviceId}: ${s.reason} ${JSON.stringify(s.authChecks)}`);
      assert.equal(s.authOk, true);
      assert.equal(s.delta, 1);
      for (const a of s.authChecks) assert.equal(a.outcome, 'rejected', `${s.serviceId}/${a.name}: ${a.reason}`);
    }
    const iat = r.services.find((s) => s.serviceId === 'iat')!;
    assert.deepEqual(iat.authChecks.map((a) => [a.name, a.status]), [['wrong_secret', 401], ['wrong_key', 401], ['stale_date', 403], ['unknown_app_id', 101]]);
    assert.match(iat.authChecks[3].responseExcerpt ?? '', /10313/);
    assert.equal(sim.usage(APP, 'iat'), 1);
    assert.equal(sim.usage('00000000', 'iat'), 0);
    assert.equal(sim.usage(APP, 'webocr'), 1);
    assert.equal(sim.usage('00000000', 'webocr'), 0);
    assert.deepEqual(await authMetric(r), {
      'iat/wrong_secret': 1, 'iat/wrong_key': 1, 'iat/stale_date': 1, 'iat/unknown_app_id': 1,
      'webocr/wrong_key': 1, 'webocr/stale_time': 1, 'webocr/unknown_app_id': 1,
    });
  });
});

test('acceptBadSignature: the signature checks are accepted, the verdict is auth_failed, the metric 0', async () => {
  await withSim({}, async (sim) => {
    sim.setSignedFaults('iat', { acceptBadSignature: true });
    sim.setSignedFaults('webocr', { acceptBadSignature: true });
    const r = await round(sim, CONFIG, ['iat', 'webocr']);
    const [iat, webocr] = r.services;
    assert.equal(iat.verdict, 'auth_failed');
    assert.equal(iat.authOk, false);
    assert.match(iat.reason, /auth check wrong_secret: bad credential accepted: the handshake succeeded \(101\)/);
    assert.deepEqual(iat.authChecks.map((a) => a.outcome), ['accepted', 'accepted', 'accepted', 'rejected']);
    assert.equal(webocr.verdict, 'auth_failed');
    assert.deepEqual(webocr.authChecks.map((a) => a.outcome), ['accepted', 'accepted', 'rejected']);
    const m = await authMetric(r);
    assert.equal(m['iat/wrong_secret'], 0);
    assert.equal(m['iat/stale_date'], 0);
    assert.equal(m['iat/unknown_app_id'], 1);
    assert.equal(m['webocr/wrong_key'], 0);
    // The secret never shows, whatever was accepted.
    assertNoSecrets(JSON.stringify(r), 'the round', ['demo-api-secret-0001']);
  });
});

test('acceptBadCredentials: the unknown app id is accepted and charged to it: auth_failed', async () => {
  await withSim({}, async (sim) => {
    sim.setSignedFaults('iat', { acceptBadCredentials: true });
    const r = await round(sim, CONFIG, ['iat']);
    const iat = r.services[0];
    assert.equal(iat.verdict, 'auth_failed');
    const unknown = iat.authChecks.find((a) => a.name === 'unknown_app_id')!;
    assert.equal(unknown.outcome, 'accepted');
    assert.match(unknown.reason, /first frame code: expected == 10313, got 0/);
    assert.equal((await authMetric(r))['iat/unknown_app_id'], 0);
    assert.equal(sim.usage('00000000', 'iat'), 1);
  });
});

test('a handshake refused otherwise than rejected_when says is "could not tell" (call_failed), not an acceptance', async () => {
  await withSim({}, async (sim) => {
    const r = await round(sim, wsConfig({ iatChecks: iatChecks(401) }), ['iat']);
    const iat = r.services[0];
    assert.equal(iat.verdict, 'call_failed');
    const stale = iat.authChecks.find((a) => a.name === 'stale_date')!;
    assert.equal(stale.outcome, 'error');
    assert.match(stale.reason, /handshake refused, but not as rejected_when says: status: expected 401, got 403/);
  });
});
