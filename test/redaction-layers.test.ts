// Each redaction layer on its own: a secret placed where only that layer can hide it. Removing the
// layer must fail the test here (the end-to-end secret test in exporter.test.ts sees the layers
// together, where one can hide another's hole).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { parseCall } from '../src/config/schema.js';
import { Exporter } from '../src/exporter.js';
import { HttpClient } from '../src/http/client.js';
import { createLogger } from '../src/log.js';
import { PatrolMetrics } from '../src/metrics.js';
import { httpCall } from '../src/probes/http.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ocrConfig, silentLogger } from './helpers/harness.js';
import { assertNoSecrets, SECRET_ENV, SECRETS } from './helpers/secrets.js';

/** A logger writing into a string, with the level and format the exporter uses. */
function capture(redactor: Redactor, format: 'json' | 'logfmt' = 'json') {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger(redactor, 'debug', sink, format), lines: () => text };
}

test('request excerpt: a secret in a URL path segment and as a query value under an innocent key is hidden by value', async () => {
  const sim = await startSimulator({ lagMs: 0 });
  const http = new HttpClient();
  try {
    const redactor = new Redactor([SECRETS.urlPath, SECRETS.queryValue, SECRETS.header, SECRETS.jsonBody]);
    const call = parseCall('http', {
      name: 'files',
      http: {
        method: 'POST',
        // No key name says "secret" here: only the redactor's search by value can find them.
        url: `${sim.url}/v1/files/${SECRETS.urlPath}/meta?note=${SECRETS.queryValue}`,
        headers: { 'X-Trace': SECRETS.header },
        json: { file: SECRETS.jsonBody },
      },
      expect: { status: 200 },
    });
    const ctx = { vars: { service_id: 's', app_id: 'a', params: {}, vars: {} }, signal: new AbortController().signal, http, redactor, defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 }, logger: silentLogger };
    const result = await httpCall(call, ctx);
    assert.equal(result.ok, false, 'the simulator has no such path: the call fails and keeps its request excerpt');
    assert.match(result.requestExcerpt ?? '', /^POST http:\/\/127\.0\.0\.1:\d+\/v1\/files\/<redacted>\/meta\?note=<redacted>$/m);
    assert.match(result.requestExcerpt ?? '', /^x-trace: <redacted>$/im);
    assertNoSecrets(JSON.stringify(result), 'the call result');
  } finally {
    await http.close();
    await sim.close();
  }
});

test('the logger redacts every line it writes, message and fields, in both formats, whoever forgot to', () => {
  for (const format of ['json', 'logfmt'] as const) {
    const redactor = new Redactor([SECRETS.errorText, SECRETS.header]);
    const { logger, lines } = capture(redactor, format);
    logger.error({ err: `upstream said ${SECRETS.errorText}`, nested: { header: SECRETS.header } }, `failed with ${SECRETS.errorText}`);
    logger.child({ token: SECRETS.header }).warn('child line');
    logger.info(`format ${SECRETS.errorText} %s`, SECRETS.header);
    assert.equal(lines().trim().split('\n').length, 3, `${format}: three lines`);
    assert.match(lines(), /<redacted>/);
    assertNoSecrets(lines(), `the ${format} log`);
  }
});

test('a reload error quoting a known secret is redacted by the exporter itself (the new config does not mark it secret)', async () => {
  const redactor = new Redactor();
  const { logger, lines } = capture(redactor);
  // The first config takes the key from the environment: the exporter learns it is secret.
  const first = ocrConfig({ apiKey: '${PATROL_SECRET_ERROR}' });
  // The edited file has the key pasted as plain text, also into a field that quotes bad values: the
  // loader does not know it is a secret any more, only the exporter does.
  const second = ocrConfig({ apiKey: SECRETS.errorText, callTimeout: SECRETS.errorText });
  let text = first;
  const store = new SqliteStore(':memory:');
  const exporter = new Exporter({ configText: () => text, loadOptions: { env: SECRET_ENV }, logger, metrics: new PatrolMetrics(new Registry(), 'test'), store, redactor });
  await exporter.start(false);
  try {
    text = second;
    const outcome = await exporter.reload();
    assert.equal(outcome.ok, false);
    const error = outcome.ok ? '' : outcome.error;
    assert.match(error, /global\.call_timeout/);
    assert.match(error, /<redacted>/, `the value was quoted, redacted: ${error}`);
    assertNoSecrets(error, 'the reload error');
    assert.match(lines(), /config reload failed/);
    assertNoSecrets(lines(), 'the log');
  } finally {
    await exporter.stop();
  }
});
