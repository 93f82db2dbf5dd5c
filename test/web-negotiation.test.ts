// The telemetry path's conventions over real HTTP: Accept and Accept-Encoding negotiated with their
// q-values (q=0 is a refusal), and --web.telemetry-path moving the endpoint (and the pages' links).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { parseList, wantsGzip, wantsOpenMetrics } from '../src/web/negotiate.js';
import { checkTelemetryPath } from '../src/web/server.js';
import { SECRET, startWeb } from './helpers/web.js';
import { assertNoSecrets } from './helpers/secrets.js';

/** A raw GET (no automatic decompression, headers exactly as given). */
function raw(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const OPEN = /^application\/openmetrics-text; version=1\.0\.0/;
const TEXT = /^text\/plain; version=0\.0\.4/;

test('Accept: OpenMetrics only when asked for with q > 0 and not below the text format', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  const cases: [string | undefined, RegExp][] = [
    [undefined, TEXT],
    ['*/*', TEXT],
    ['text/plain', TEXT],
    ['application/openmetrics-text', OPEN],
    ['application/openmetrics-text;q=0', TEXT],
    ['application/openmetrics-text; q=0.0, text/plain', TEXT],
    ['application/openmetrics-text;version=1.0.0;q=0.2, text/plain;q=0.9', TEXT],
    ['text/plain;q=0.3, application/openmetrics-text;q=0.6', OPEN],
    // What Prometheus itself sends.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', OPEN],
    ['application/json', TEXT],
    ['application/openmetrics-text;q=banana', OPEN],
  ];
  for (const [accept, type] of cases) {
    const r = await raw(`${web.url}/metrics`, accept === undefined ? {} : { accept });
    assert.equal(r.status, 200, String(accept));
    assert.match(r.headers['content-type'] ?? '', type, `Accept: ${accept}`);
    const body = r.body.toString('utf8');
    if (type === OPEN) assert.match(body, /# EOF\n$/, `an OpenMetrics body for ${accept}`);
    else assert.ok(!body.includes('# EOF'), `a text body for ${accept}`);
    assert.match(body, /patrol_rounds_total/);
    assertNoSecrets(body, `/metrics (Accept: ${accept})`, [SECRET]);
  }
});

test('Accept-Encoding: gzip unless refused with q=0 (by name or by *)', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['gzip;q=0', false],
    ['gzip;q=0, identity', false],
    ['GZIP;Q=0.5', true],
    ['*', true],
    ['*;q=0', false],
    ['gzip;q=0, *;q=1', false],
    ['br, identity', false],
    ['x-gzip', true],
  ];
  for (const [enc, gz] of cases) {
    const r = await raw(`${web.url}/metrics`, enc === undefined ? {} : { 'accept-encoding': enc });
    assert.equal(r.headers['content-encoding'], gz ? 'gzip' : undefined, `Accept-Encoding: ${enc}`);
    const text = (gz ? gunzipSync(r.body) : r.body).toString('utf8');
    assert.match(text, /^# HELP /, `a readable body for ${enc}`);
    assert.match(r.headers.vary ?? '', /Accept, Accept-Encoding/);
  }
});

test('the parser: weights, parameters, junk', () => {
  assert.deepEqual(
    parseList(' text/plain ; version=0.0.4 ; q=0.5 ,, application/x;q=0').map((r) => [r.value, r.q, Object.fromEntries(r.params)]),
    [
      ['text/plain', 0.5, { version: '0.0.4' }],
      ['application/x', 0, {}],
    ],
  );
  assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0.001'), true, 'a low weight is still a yes when text/plain is not listed');
  assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0.5, text/*;q=0.4'), true);
  assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0.5, text/*;q=0.9'), false);
  assert.equal(wantsGzip(',,;;=='), false);
  assert.equal(wantsGzip('gzip;q=1.5'), true, 'an unreadable weight is not a refusal');
});

test('--web.telemetry-path moves the metrics endpoint and the links to it', async (t) => {
  const web = await startWeb('', {}, undefined, { telemetryPath: '/internal/metrics' });
  t.after(() => web.close());
  const moved = await fetch(`${web.url}/internal/metrics`);
  assert.equal(moved.status, 200);
  assert.match(await moved.text(), /patrol_rounds_total/);
  assert.equal((await fetch(`${web.url}/metrics`)).status, 404, 'the old path is gone');
  const page = await (await fetch(`${web.url}/`)).text();
  assert.ok(page.includes('href="/internal/metrics"'));
  assert.ok(!page.includes('href="/metrics"'));
  const details = await (await fetch(`${web.url}/services/ocr`)).text();
  assert.ok(details.includes('href="/internal/metrics"'));
  assertNoSecrets(page, 'the status page', [SECRET]);
  assertNoSecrets(details, 'the details page', [SECRET]);

  assert.equal(checkTelemetryPath('/metrics'), null);
  assert.equal(checkTelemetryPath('/a/b-c_d.e'), null);
  for (const bad of ['metrics', '/', '/-/healthy', '/api/rounds', '/services', '/a b', '/a?b', '//x', '/%41']) assert.match(checkTelemetryPath(bad) ?? '', /--web\.telemetry-path/, bad);
});
