// Config loading: each bad fixture is refused with the exact path and reason; good files load with
// their defaults; secrets from the environment are collected for redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfigFile, parseConfig } from '../src/config/load.js';
import { duration } from '../src/config/schema.js';
import { MAX_TIMER_MS } from '../src/util/duration.js';
import { REFERENCE_FILE, SCHEMA_FILE, configJsonSchemaText, configReferenceMarkdown } from '../src/config/reference.js';
import { parse as parseYaml, stringify } from 'yaml';
import { Registry } from 'prom-client';
import { Exporter } from '../src/exporter.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { MemoryStore } from '../src/store/memory.js';
import { silentLogger } from './helpers/harness.js';

const dir = 'test/fixtures/config';

/** fixture -> every problem it must produce: [path, line, reason]. Nothing else may be reported. */
const fixtures: Record<string, [string, number | undefined, RegExp][]> = {
  'bad-unknown-key.yml': [['services[0].calls[0].expect.stauts', 14, /^unknown key$/]],
  'bad-status.yml': [['services[0].calls[0].expect.status', 14, /HTTP status codes are 100 to 599/]],
  'bad-cron-timezone.yml': [
    ['global.schedule', 2, /invalid cron expression "every five minutes"/],
    ['global.timezone', 3, /unknown timezone "Mars\/Olympus"/],
  ],
  'bad-json-path.yml': [['services[0].calls[0].expect.json[0].path', 15, /invalid JSON path "data\.\.x"/]],
  'bad-regex.yml': [['services[0].calls[0].expect.body_regex', 14, /invalid regular expression \/\(\[unclosed\/: Unterminated character class/]],
  'bad-template.yml': [['services[0].calls[0].http.url', 13, /unknown template variable \{\{params\.missing\}\}/]],
  'bad-duplicate-id.yml': [['services[1].id', 12, /duplicate service id "ocr" \(also services\[0\]\)/]],
  'bad-missing-env.yml': [['services[0].params.key', 11, /environment variable PATROL_FIXTURE_UNSET_VAR is not set/]],
  'bad-no-calls.yml': [['services[0].calls', 11, /a service needs at least one call/]],
  'bad-duration.yml': [['services[0].calls[0].http.timeout', 13, /invalid duration "10 parsecs"/]],
  'bad-several.yml': [
    ['services[0].id', 10, /service ids are ASCII letters/],
    ['services[0].calls[0].http.url', 12, /invalid URL "not a url"/],
  ],
  'bad-yaml.yml': [['', 3, /^YAML: Flow sequence in block collection must be sufficiently indented/]],
  'bad-two-bodies.yml': [['services[0].calls[0].http', 13, /give at most one of json, form, body/]],
  'bad-assertion-no-operator.yml': [['services[0].calls[0].expect.json[0]', 14, /an assertion needs at least one of equals/]],
  // Every duration is bounded where the schema reads it: no timer past 2^31-1 ms, and a sensible limit per field.
  'bad-duration-bounds.yml': [
    ['global.round_timeout', 3, /^"100d" is too long: at most 6h$/],
    ['global.call_timeout', 4, /^"30d" is too long: at most 10m$/],
    ['global.settle.timeout', 5, /^"2h" is too long: at most 1h$/],
    ['global.settle.poll_interval', 5, /^"10m" is too long: at most 5m$/],
    ['global.settle.quiet_period', 5, /^"2h" is too long: at most 1h$/],
    ['platforms.console.session.max_age', 11, /^"2d" is too long: at most 24h$/],
    ['platforms.console.counter.http.timeout', 13, /^1e\+300 \(seconds\) is too long: at most 10m$/],
    ['services[0].metering.settle.timeout', 18, /^"61m" is too long: at most 1h$/],
    ['services[0].calls[0].http.timeout', 21, /^"11m" is too long: at most 10m$/],
    ['services[0].calls[0].sign.date_offset', 22, /^"-2d" is too far: at most 1d either way$/],
    ['services[0].calls[0].expect.max_duration', 23, /^601 \(seconds\) is too long: at most 10m$/],
    ['services[0].calls[1].websocket.send[0].wait', 28, /^"61s" is too long: at most 1m$/],
    ['services[0].calls[1].websocket.send[1].stream.interval', 29, /^"2m" is too long: at most 1m$/],
    ['services[0].calls[1].websocket.timeout', 30, /^"1d" is too long: at most 10m$/],
    ['services[0].calls[1].expect.frames.max_first_frame', 31, /^"1h" is too long: at most 10m$/],
    ['services[0].calls[2].script.timeout', 33, /^"24d21h" is too long: at most 10m$/],
    ['services[0].auth_checks[0].sign.time_offset', 37, /^"25h" is too far: at most 1d either way$/],
    ['storage.retention', 38, /^"36501d" is too long: at most 36500d$/],
    ['digest.retry.backoff', 39, /^"2h" is too long: at most 1h$/],
    ['digest.retry.max_backoff', 39, /^"25h" is too long: at most 24h$/],
    ['smtp.timeout', 40, /^"1h" is too long: at most 10m$/],
  ],
  'bad-duration-short.yml': [
    ['global.call_timeout', 3, /^0 \(seconds\) is too short: at least 1ms$/],
    ['global.settle.poll_interval', 4, /^"0s" is too short: at least 1ms$/],
    ['platforms.console.session.max_age', 10, /^"500ms" is too short: at least 1s$/],
    ['storage.retention', 20, /^"59m" is too short: at least 1h$/],
  ],
  // Config that used to pass and then send something other than what was written.
  'bad-vars.yml': [
    ['vars.b', 5, /^\{\{ vars\.a \}\} makes a cycle: vars\.a -> vars\.b -> vars\.a$/],
    ['vars.c', 6, /^unknown template variable \{\{vars\.nope\}\} \(vars: base, api, a, b, c, d\)$/],
    ['vars.d', 7, /^\{\{app_id\}\}: vars can only use other vars/],
  ],
  'bad-service-values.yml': [
    ['services[0].business_id', 13, /^unknown template variable \{\{vars\.missing\}\} \(vars: app\)$/],
    ['services[0].params.signed', 14, /^\{\{app_id\}\}: a service's app_id, business_id, name and params can only use \{\{vars\.X\}\}/],
  ],
  'bad-name-reference.yml': [
    ['services[0].calls[0].http.headers.${HEADER_NAME}', 17, /^"\$\{HEADER_NAME\}": \$\{\.\.\.\} is replaced in values only, not in names/],
    ['services[0].calls[0].http.headers.X-{{app_id}}', 18, /^"X-\{\{app_id\}\}": \{\{\.\.\.\}\} templates are filled in values only, not in names/],
  ],
  'bad-missing-platforms.yml': [['platforms', undefined, /^required \(a mapping of platform names to their login and counter\)$/]],
  'bad-missing-keys.yml': [
    ['platforms.console.counter.value', 7, /^required \(a string\)$/],
    ['services[0].id', 9, /^required \(a string\)$/],
    ['smtp.to', 14, /^required$/],
  ],
  'bad-yaml-alias-bomb.yml': [['', 3, /^YAML: aliases expand to too many copies \(more than 100\)/]],
  'bad-yaml-deep.yml': [['', 2, /^YAML: nested more than 64 levels deep$/]],
  'bad-env-form.yml': [
    ['services[0].params.region', 12, /^\$\{env:REGION\} is not a reference this file understands: write \$\{VAR\}, \$\{VAR:-default\}, \$\{plain:VAR\}/],
    ['services[0].params.port', 12, /^environment variable PATROL_FIXTURE_UNSET_PORT is not set \(write \$\{plain:PATROL_FIXTURE_UNSET_PORT:-default\}/],
  ],
  'bad-console-expect.yml': [
    ['platforms.console.login.expect.exit_code', 5, /^unknown key$/],
    ['platforms.console.counter.expect.frames', 9, /^unknown key$/],
  ],
};

for (const [file, expected] of Object.entries(fixtures)) {
  test(`${file} is refused with its path and reason`, () => {
    let error: unknown;
    try {
      loadConfigFile(`${dir}/${file}`, { env: { HEADER_NAME: 'X-Name' } });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.problems.length, expected.length, error.message);
    expected.forEach(([path, line, reason], i) => {
      const p = error.problems[i];
      assert.equal(p.path, path, error.message);
      assert.equal(p.line, line, `line of ${path}`);
      assert.match(p.message, reason);
    });
  });
}

test('every duration bound is inclusive: the longest allowed values load', () => {
  const text = readFileSync(`${dir}/bad-duration-bounds.yml`, 'utf8')
    .replace('round_timeout: 100d', 'round_timeout: 6h')
    .replace('call_timeout: 30d', 'call_timeout: 10m')
    .replace('{ timeout: 2h, poll_interval: 10m, quiet_period: 2h }', '{ timeout: 1h, poll_interval: 5m, quiet_period: 1h }')
    .replace('max_age: 2d', 'max_age: 24h')
    .replace('timeout: 1e300', 'timeout: 600')
    .replace('timeout: 61m', 'timeout: 60m')
    .replace('timeout: 11m', 'timeout: 10m')
    .replace('date_offset: -2d', 'date_offset: -1d')
    .replace('max_duration: 601', 'max_duration: 600')
    .replace('wait: 61s', 'wait: 60s')
    .replace('interval: 2m', 'interval: 1m')
    .replace('timeout: 1d', 'timeout: 10m')
    .replace('max_first_frame: 1h', 'max_first_frame: 10m')
    .replace('timeout: 24d21h', 'timeout: 9m60s')
    .replace('time_offset: 25h', 'time_offset: 24h')
    .replace('retention: 36501d', 'retention: 36500d')
    .replace('{ backoff: 2h, max_backoff: 25h }', '{ backoff: 1h, max_backoff: 24h }')
    .replace('timeout: 1h }', 'timeout: 10m }');
  // Only the files the calls name are missing now: every duration passed.
  const err = (() => {
    try {
      parseConfig(text, 'inline', { env: {}, baseDir: dir });
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(err.problems.map((p) => p.path), ['services[0].calls[1].websocket.send[1].stream.file', 'services[0].calls[2].script.command[0]'], err.message);
});

test('a duration bound longer than a timer can wait is a programming error', () => {
  assert.throws(() => duration({ max: '25d' }), /longer than a timer can wait/);
  assert.equal(duration({ max: '30d', notATimer: true }).parse('30d'), 30 * 86_400_000);
  assert.equal(MAX_TIMER_MS, 2_147_483_647);
});

/** The good fixture as an object (what a test changes), written back as YAML by the caller. */
type Good = { vars?: Record<string, string>; global?: object; platforms: { console: { login: { http: { url: string } } } }; services: Record<string, unknown>[] };
const good = (): Good => parseYaml(readFileSync(`${dir}/good.yml`, 'utf8')) as Good;

test('vars build on other vars, in any order, and an override of vars flows through them', () => {
  const c = good();
  c.vars = { login: '{{vars.api}}/login', api: '{{ vars.base }}/v1', base: 'http://127.0.0.1:9' };
  c.platforms.console.login.http.url = '{{vars.login}}';
  const text = stringify(c);
  const { config } = parseConfig(text, 'inline', { env: {} });
  assert.deepEqual(config.vars, { login: 'http://127.0.0.1:9/v1/login', api: 'http://127.0.0.1:9/v1', base: 'http://127.0.0.1:9' });
  const moved = parseConfig(text, 'inline', { env: {}, vars: { base: 'http://127.0.0.1:4000' } });
  assert.equal(moved.config.vars.login, 'http://127.0.0.1:4000/v1/login');
  // A service's values may use vars too (they are filled once, at load).
  Object.assign(c.services[0], { app_id: '{{vars.base}}', params: { region: '{{ vars.api }}' } });
  const withApp = parseConfig(stringify(c), 'inline', { env: {} });
  assert.equal(withApp.config.services[0].app_id, 'http://127.0.0.1:9');
  assert.deepEqual(withApp.config.services[0].params, { region: 'http://127.0.0.1:9/v1' });
});

test('5,000 levels of block nesting are one problem with its line, not a stack overflow', () => {
  for (const [text, line] of [
    ['x:\n' + Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i + 1)}a:\n`).join('') + 'platforms: {}\n', 65],
    ['# a comment\n' + '- '.repeat(5000) + 'x\n', 2],
  ] as const) {
    assert.throws(
      () => parseConfig(text, 'inline', { env: {} }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && err.problems[0].line === line && /nested more than 64 levels/.test(err.problems[0].message),
    );
  }
});

test("a service's settle overrides only the keys it sets; the rest come from global.settle", () => {
  const c = good();
  c.global = { settle: { timeout: '2m', poll_interval: '5s' } };
  c.services[0].metering = { settle: { confirm_reads: 2 } };
  const text = stringify(c);
  const { config } = parseConfig(text, 'inline', { env: {} });
  assert.deepEqual(config.services[0].metering.settle, { confirm_reads: 2 });
  assert.deepEqual(config.global.settle, { timeout: 120_000, poll_interval: 5_000, confirm_reads: 1 });
});

test('the good fixture loads with defaults filled in', () => {
  const { config } = loadConfigFile(`${dir}/good.yml`, { env: {} });
  assert.equal(config.global.schedule, '*/5 * * * *');
  assert.equal(config.global.call_timeout, 15_000);
  assert.equal(config.global.settle.poll_interval, 1_000);
  assert.equal(config.services[0].metering.mode, 'exact');
  assert.equal(config.services[0].calls[0].units, 1);
  const call = config.services[0].calls[0];
  assert.ok('http' in call, 'an HTTP call');
  assert.deepEqual(call.expect.status, [200]);
  assert.deepEqual(config.platforms.console.not_logged_in.status, [401, 403]);
});

test('the shipped examples and the README example are valid', () => {
  for (const file of ['examples/demo.yml']) loadConfigFile(file, { env: {} });
  const readme = readFileSync('README.md', 'utf8');
  const example = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)![1];
  const env = { CONSOLE_USER: 'u', CONSOLE_PASSWORD: 'p', OCR_API_KEY: 'k' };
  const { config } = parseConfig(example, 'README.md', { env });
  assert.equal(config.services[0].auth_checks.length, 1);
  assert.equal(config.platforms.console.counter.value, 'data.usedCount');
});

test('${VAR}, ${VAR:-default}, ${file:...} and $$ are substituted, and the values become secrets', () => {
  const c = good();
  c.services[0].params = { key: '${PATROL_K}', other: '${PATROL_UNSET:-fallback-value}', file: '${file:secret.txt}', cost: '$$5' };
  const text = stringify(c);
  const loaded = parseConfig(text, 'inline', { env: { PATROL_K: 'the-secret-value' }, baseDir: 'test/fixtures' });
  assert.deepEqual(loaded.config.services[0].params, { key: 'the-secret-value', other: 'fallback-value', file: 'file-secret-contents', cost: '$5' });
  assert.ok(loaded.secrets.includes('the-secret-value'));
  assert.ok(loaded.secrets.includes('file-secret-contents'));
  assert.ok(!loaded.secrets.includes('fallback-value'), 'a default written in the file is not a secret');
});

test('${plain:VAR} takes a value from the environment that is not a secret', () => {
  const text = readFileSync(`${dir}/good.yml`, 'utf8')
    .replace('http://127.0.0.1:9/ocr', 'http://127.0.0.1:${plain:PATROL_PORT}/ocr')
    .replace('app_id: a1', 'app_id: a1\n    params: { region: "${plain:PATROL_REGION:-cn-east}", key: "${PATROL_K}" }');
  const loaded = parseConfig(text, 'inline', { env: { PATROL_PORT: '8443', PATROL_K: 'the-secret-value' } });
  const call = loaded.config.services[0].calls[0];
  assert.equal('http' in call && call.http.url, 'http://127.0.0.1:8443/ocr');
  assert.deepEqual(loaded.config.services[0].params, { region: 'cn-east', key: 'the-secret-value' });
  assert.deepEqual(loaded.secrets, ['the-secret-value'], 'only ${VAR} is a secret');
  // A plain value may be quoted in a problem; a secret one may not.
  assert.throws(
    () => parseConfig(text.replace('expect: { status: 200 }', 'expect: { status: 200, max_duration: "${plain:PATROL_PORT}" }'), 'inline', { env: { PATROL_PORT: '8443', PATROL_K: 'k' } }),
    /max_duration \(line \d+\): invalid duration "8443"/,
  );
});

test('an environment value never shows up in a problem message', () => {
  // Messages that quote the refused value (a duration, a cron expression) must not quote a secret.
  const text = readFileSync(`${dir}/good.yml`, 'utf8')
    .replace('expect: { status: 200 }', 'expect: { status: 200, max_duration: "${PATROL_K}" }')
    .replace('platforms:', 'global: { schedule: "${PATROL_K}" }\nplatforms:');
  assert.throws(
    () => parseConfig(text, 'inline', { env: { PATROL_K: 'sekrit-token-123' } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.length === 2 &&
      !err.message.includes('sekrit-token-123') &&
      /global\.schedule \(line 2\): invalid cron expression "<redacted>"/.test(err.message) &&
      /max_duration \(line \d+\): invalid duration "<redacted>"/.test(err.message),
  );
});

test('a reload of an alias bomb or of deep nesting fails with one problem and keeps the running config', async () => {
  let text = readFileSync(`${dir}/good.yml`, 'utf8');
  const exporter = new Exporter({ configText: () => text, logger: silentLogger, metrics: new PatrolMetrics(new Registry(), 'test'), store: new MemoryStore(), redactor: new Redactor() });
  await exporter.start(false);
  try {
    for (const [file, line, reason] of [
      ['bad-yaml-alias-bomb.yml', 3, /aliases expand to too many copies/],
      ['bad-yaml-deep.yml', 2, /nested more than 64 levels deep/],
    ] as const) {
      text = readFileSync(`${dir}/${file}`, 'utf8');
      const outcome = await exporter.reload();
      assert.equal(outcome.ok, false);
      const error = outcome.ok ? '' : outcome.error;
      assert.match(error, /^config: 1 problem\n/, error);
      assert.equal(error.split('\n').length, 2, error);
      assert.match(error, new RegExp(`\\(line ${line}\\): YAML: ${reason.source}`));
    }
    assert.equal(exporter.config?.services[0].id, 'ocr', 'the running config stays');
  } finally {
    await exporter.stop();
  }
});

test('patrol check-config prints every problem and exits 1; a good file exits 0', () => {
  const bad = spawnSync('npx', ['tsx', 'src/cli.ts', 'check-config', `--config.file=${dir}/bad-cron-timezone.yml`], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /2 problem\(s\)/);
  assert.match(bad.stderr, /global\.schedule \(line 2\): invalid cron expression/);
  assert.match(bad.stderr, /global\.timezone \(line 3\): unknown timezone/);
  const good = execFileSync('npx', ['tsx', 'src/cli.ts', 'check-config', `--config.file=${dir}/good.yml`], { encoding: 'utf8', timeout: 120_000 });
  assert.match(good, /OK \(1 platform\(s\), 1 service\(s\)\)/);
});

test('schema/patrol.schema.json and docs/config.md are what `npm run gen:config-docs` makes from the schema', () => {
  // Compared without printing both texts: the message says what to do.
  assert.ok(readFileSync(SCHEMA_FILE, 'utf8') === configJsonSchemaText(), `${SCHEMA_FILE} is stale: run npm run gen:config-docs`);
  assert.ok(readFileSync(REFERENCE_FILE, 'utf8') === configReferenceMarkdown(), `${REFERENCE_FILE} is stale: run npm run gen:config-docs`);
  const check = spawnSync('npx', ['tsx', 'scripts/gen-config-docs.ts', '--check'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(check.status, 0, check.stderr);
});

type JsonNode = Record<string, unknown>;

/**
 * The keys of a YAML value an editor would flag against the JSON Schema: unknown keys, missing
 * required keys, wrong basic types. A small walker of the subset the generated schema uses.
 */
function schemaProblems(root: JsonNode, node: JsonNode, value: unknown, at: string, out: string[]): string[] {
  const ref = node.$ref as string | undefined;
  if (ref) return schemaProblems(root, (root.$defs as Record<string, JsonNode>)[ref.replace('#/$defs/', '')], value, at, out);
  const union = (node.anyOf ?? node.oneOf) as JsonNode[] | undefined;
  if (union) {
    const tries = union.map((branch) => schemaProblems(root, branch, value, at, []));
    if (!tries.some((t) => t.length === 0)) out.push(...tries.reduce((a, b) => (a.length <= b.length ? a : b)));
    return out;
  }
  if (node.const !== undefined && value !== node.const) out.push(`${at}: expected ${String(node.const)}`);
  if (Array.isArray(node.enum) && !node.enum.includes(value)) out.push(`${at}: not one of ${node.enum.join(', ')}`);
  const type = node.type as string | undefined;
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (type === 'object') {
    if (!isObject) return [...out, `${at}: expected a mapping`];
    const props = (node.properties as Record<string, JsonNode> | undefined) ?? {};
    for (const key of (node.required as string[] | undefined) ?? []) if (!(key in value)) out.push(`${at}.${key}: required`);
    for (const [key, v] of Object.entries(value)) {
      if (props[key]) schemaProblems(root, props[key], v, `${at}.${key}`, out);
      else if (node.additionalProperties === false) out.push(`${at}.${key}: unknown key`);
      else if (node.additionalProperties) schemaProblems(root, node.additionalProperties as JsonNode, v, `${at}.${key}`, out);
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return [...out, `${at}: expected a list`];
    value.forEach((v, i) => schemaProblems(root, (node.items as JsonNode) ?? {}, v, `${at}[${i}]`, out));
  } else if (type === 'string') {
    if (typeof value !== 'string') out.push(`${at}: expected a string`);
    else if (typeof node.pattern === 'string' && !new RegExp(node.pattern).test(value)) out.push(`${at}: does not match ${node.pattern}`);
  } else if (type === 'number' || type === 'integer') {
    if (typeof value !== 'number') out.push(`${at}: expected a number`);
  } else if (type === 'boolean' && typeof value !== 'boolean') out.push(`${at}: expected true or false`);
  return out;
}

test('an editor using schema/patrol.schema.json accepts the shipped examples and flags a misspelt key', () => {
  const root = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as JsonNode;
  for (const file of ['examples/demo.yml', 'examples/xfyun.yml', `${dir}/good.yml`]) {
    const text = readFileSync(file, 'utf8');
    if (file.startsWith('examples/')) assert.match(text, /^# yaml-language-server: \$schema=\.\.\/schema\/patrol\.schema\.json\n/, `${file} names the schema`);
    assert.deepEqual(schemaProblems(root, root, parseYaml(text), '', []), [], file);
  }
  const bad = parseYaml(readFileSync(`${dir}/bad-unknown-key.yml`, 'utf8'));
  assert.deepEqual(schemaProblems(root, root, bad, '', []), ['.services[0].calls[0].expect.stauts: unknown key']);
  const longTimeout = parseYaml(readFileSync(`${dir}/good.yml`, 'utf8').replace('platforms:', 'global: { call_timeout: 10 parsecs }\nplatforms:'));
  assert.equal(schemaProblems(root, root, longTimeout, '', []).length, 1);
});
