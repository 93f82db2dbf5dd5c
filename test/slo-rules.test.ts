// The objectives in the config and the Prometheus rules generated from them (`patrol slo-rules`):
// the config's checks, the windows chosen for the schedule, and promtool checking and unit-testing
// a rule file generated here from a config (fast burn pages, slow burn tickets, no burn is silent,
// each service judged by its own objective).
//
//   node --import tsx --test test/slo-rules.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { durationText, roundIntervalMs, roundsSpanMs, serviceSlo } from '../src/config/slo.js';
import { sloRules, sloRulesYaml, stretch, type RuleFile } from '../src/slo/rules.js';
import { STUB_PLATFORMS } from './helpers/harness.js';
import { runPatrol } from './helpers/process.js';
import { requireTool } from './helpers/tools.js';

const ROOT = resolve(import.meta.dirname, '..');

/** A valid config with these lines added under `global:` and these per-service `slo:` blocks. */
function configText(global: string, schedule: string, services: Record<string, string | undefined>): string {
  const svc = Object.entries(services)
    .map(([id, slo]) => `  - id: ${id}\n    app_id: a-${id}\n    calls:\n      - name: call\n        http: { url: "http://127.0.0.1:9/${id}" }\n${slo ? `    slo:\n${slo.replace(/^/gm, '      ')}\n` : ''}`)
    .join('');
  return `global:
  schedule: "${schedule}"
  timezone: UTC
${global.replace(/^/gm, '  ')}
${STUB_PLATFORMS}services:
${svc}`;
}

function problemsOf(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, 'slo.yml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => ({ path: p.path, message: p.message }));
    throw err;
  }
  return [];
}

test('objectives: defaults, per-service overrides key by key', () => {
  const { config } = parseConfig(configText('slo:\n  metering: { objective: 99.95 }', '* * * * *', { a: undefined, b: 'availability: { objective: 99.9 }\nmetering: { window: 7d }' }), 'slo.yml');
  const a = serviceSlo(config.global.slo, config.services[0].slo);
  const b = serviceSlo(config.global.slo, config.services[1].slo);
  assert.deepEqual(a, { availability: { percent: 99.5, ratio: 0.995, windowMs: 28 * 86_400_000 }, metering: { percent: 99.95, ratio: 0.9995, windowMs: 28 * 86_400_000 } });
  assert.deepEqual(b, { availability: { percent: 99.9, ratio: 0.999, windowMs: 28 * 86_400_000 }, metering: { percent: 99.95, ratio: 0.9995, windowMs: 7 * 86_400_000 } });
});

test('objectives: a bad objective, window or key is refused with its path', () => {
  const problems = problemsOf(
    configText('slo:\n  availability: { objective: 100 }\n  metering: { objective: 120, window: 30m, burn: 2 }', '* * * * *', { a: 'availability: { objective: 40 }\nmetering: { window: "3 weeks" }' }),
  );
  const at = (path: string) => problems.filter((p) => p.path === path).map((p) => p.message);
  assert.match(at('global.slo.availability.objective').join(), /below 100 .*no error budget/);
  assert.match(at('global.slo.metering.objective').join(), /below 100/);
  assert.match(at('global.slo.metering.window').join(), /"30m" is too short: at least 1h/);
  assert.deepEqual(at('global.slo.metering.burn'), ['unknown key']);
  assert.match(at('services[0].slo.availability.objective').join(), /from 50/);
  assert.match(at('services[0].slo.metering.window').join(), /invalid duration/);
  assert.equal(problems.length, 6, JSON.stringify(problems));
});

test('objectives: a window must hold ten rounds of the schedule', () => {
  // Rounds every 6 hours: a 2-day window holds 8 of them.
  const problems = problemsOf(configText('slo:\n  availability: { window: 2d }', '0 */6 * * *', { a: 'metering: { window: 60h }', b: 'metering: { window: 3d }' }));
  assert.deepEqual(problems, [
    { path: 'global.slo.availability.window', message: 'a window of 2d can hold fewer than 10 rounds of global.schedule: make it at least 60h' },
  ]);
  // Weekdays at 9: the weekend is a three-day gap (the longest between two rounds), and ten rounds
  // in a row take at most two weeks.
  assert.equal(roundIntervalMs('0 9 * * 1-5', 'UTC'), 3 * 86_400_000);
  assert.equal(roundsSpanMs('0 9 * * 1-5', 'UTC', 10), 14 * 86_400_000);
  assert.deepEqual(problemsOf(configText('slo:\n  availability: { window: 14d }\n  metering: { window: 30d }', '0 9 * * 1-5', { a: undefined })), []);
  assert.deepEqual(problemsOf(configText('slo:\n  availability: { window: 13d }', '0 9 * * 1-5', { a: undefined })).map((p) => p.path), ['global.slo.availability.window']);
});

test('windows: stretched to four rounds of the schedule, never past the objective window', () => {
  const M = 60_000;
  assert.equal(stretch(5 * M, M, 28 * 1440 * M), 5 * M);
  assert.equal(stretch(5 * M, 15 * M, 28 * 1440 * M), 60 * M);
  assert.equal(stretch(30 * M, 10 * M + 1, 28 * 1440 * M), 41 * M, 'whole minutes, rounded up');
  assert.equal(stretch(3 * 1440 * M, 1440 * M, 2 * 1440 * M), 2 * 1440 * M);
  const { info, file } = sloRules(parseConfig(configText('', '*/15 * * * *', { a: undefined }), 'slo.yml').config);
  assert.equal(info.intervalMs, 15 * M);
  assert.deepEqual(info.tiers.map((t) => [t.long / M, t.short / M]), [[60, 60], [360, 60], [1440, 120], [4320, 360]]);
  const records = file.groups[0].rules.map((r) => r.record);
  assert.ok(records.includes('service_id:patrol_call_errors:ratio_rate1h') && !records.includes('service_id:patrol_call_errors:ratio_rate5m'), records.join());
  // An objective over 12 hours: no tier looks further back than 12 hours, so no group of long windows.
  const short = sloRules(parseConfig(configText('slo:\n  availability: { window: 12h }\n  metering: { window: 12h }', '* * * * *', { a: undefined }), 'slo.yml').config);
  assert.deepEqual(short.info.tiers.map((t) => [t.long / M, t.short / M]), [[60, 5], [360, 30], [720, 120], [720, 360]]);
  assert.deepEqual(short.file.groups.map((g) => g.name), ['patrol-slo-sli', 'patrol-slo-availability-99_5-12h', 'patrol-slo-metering-99_9-12h']);
});

// ---------------------------------------------------------------- promtool

const ONE_MINUTE_RULES = configText('', '* * * * *', {
  ocr: undefined,
  nlp: undefined,
  tts: undefined,
  // Budget 10 %: a 14.4x burn would need 144 % of the calls to fail, so that tier needs all of them to.
  iat: 'availability: { objective: 90 }',
  'web.ocr': 'metering: { objective: 99 }',
});

function run(bin: string, args: string[], cwd: string): { status: number | null; output: string } {
  const res = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}` };
}

/** Counters of one service: `per` calls (or checks) a minute, `bad` of them failed. */
function series(id: string, per: number, bad: number, minutes: number, sli: 'availability' | 'metering' = 'availability') {
  const [total, errors] = sli === 'availability' ? ['patrol_calls_total', 'patrol_call_failures_total'] : ['patrol_metering_checks_total', 'patrol_metering_mismatches_total'];
  const labels = `{job="patrol", instance="patrol:9798", service_id="${id}"}`;
  return [
    { series: `${total}${labels}`, values: `0+${per}x${minutes}` },
    { series: `${errors}${labels}`, values: `0+${bad}x${minutes}` },
  ];
}

const WINDOWS_TEXT = { page: '14.4x over 1h and 5m, or 6x over 6h and 30m', ticket: '3x over 1d and 2h, or 1x over 3d and 6h' };
const WHAT = { availability: 'calls that did not meet their expectations', metering: 'metering checks whose delta did not match' };

/** An alert as promtool should see it: labels, and annotations with the error ratio over the tier's long window. */
function alert(id: string, severity: 'page' | 'ticket', sli: 'availability' | 'metering', objective: string, ratio: string) {
  const budget = `${Number((100 - Number(objective)).toFixed(6))} %`;
  const long = severity === 'page' ? '1h' : '1d';
  return {
    exp_labels: { job: 'patrol', instance: 'patrol:9798', service_id: id, severity, slo: sli, objective, slo_window: '28d' },
    exp_annotations: {
      summary: `Patrol: service ${id} is spending its ${sli} error budget ${severity === 'page' ? 'fast' : 'steadily'}`,
      description: `Service ${id} (exporter patrol:9798): ${WHAT[sli]} are burning the error budget of its ${objective} % ${sli} objective over 28d (budget ${budget}) at ${WINDOWS_TEXT[severity]}. Error ratio over ${long}: ${ratio}.`,
      runbook_url: `https://github.com/patrol-exporter/patrol_exporter/blob/main/docs/slo.md#patrol${sli}budgetburn`,
    },
  };
}

test('promtool: the generated rule file passes check rules and its unit tests (fast burn pages, slow burn tickets, no burn is silent)', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const dir = mkdtempSync(join(tmpdir(), 'patrol-slo-'));
  try {
    const { config } = parseConfig(ONE_MINUTE_RULES, 'slo.yml');
    writeFileSync(join(dir, 'slo.rules.yml'), sloRulesYaml(config, 'slo.yml'));
    const check = run(promtool, ['check', 'rules', 'slo.rules.yml'], dir);
    assert.equal(check.status, 0, check.output);
    assert.match(check.output, /SUCCESS/);

    const A = 'PatrolAvailabilityBudgetBurn';
    const M = 'PatrolMeteringBudgetBurn';
    const tests = {
      rule_files: ['slo.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          name: 'fast burn: half the calls fail; pages within minutes (and the slow tiers ticket too)',
          interval: '1m',
          input_series: [...series('ocr', 10, 5, 120), ...series('nlp', 10, 0, 120)],
          alert_rule_test: [
            // One sample is no rate yet.
            { eval_time: '0m', alertname: A, exp_alerts: [] },
            { eval_time: '10m', alertname: A, exp_alerts: [alert('ocr', 'page', 'availability', '99.5', '50%'), alert('ocr', 'ticket', 'availability', '99.5', '50%')] },
            { eval_time: '10m', alertname: M, exp_alerts: [] },
          ],
        },
        {
          // Half of ocr's calls fail for 40 minutes; then a window holds it: no call (its counters
          // stay), the gauge is 1 for an hour, then it is inspected again and still fails.
          name: 'a maintenance window mutes both tiers while it lasts; still burning after it, it fires again',
          interval: '1m',
          input_series: [
            { series: 'patrol_calls_total{job="patrol", instance="patrol:9798", service_id="ocr"}', values: '0+10x40 400x60 410+10x40' },
            { series: 'patrol_call_failures_total{job="patrol", instance="patrol:9798", service_id="ocr"}', values: '0+5x40 200x60 205+5x40' },
            { series: 'patrol_service_maintenance{job="patrol", instance="patrol:9798", service_id="ocr"}', values: '0x40 1x60 0x40' },
          ],
          alert_rule_test: [
            { eval_time: '35m', alertname: A, exp_alerts: [alert('ocr', 'page', 'availability', '99.5', '50%'), alert('ocr', 'ticket', 'availability', '99.5', '50%')] },
            // Inside the window the 1d and 3d windows still hold the failures: silent all the same.
            { eval_time: '50m', alertname: A, exp_alerts: [] },
            { eval_time: '95m', alertname: A, exp_alerts: [] },
            { eval_time: '135m', alertname: A, exp_alerts: [alert('ocr', 'page', 'availability', '99.5', '50%'), alert('ocr', 'ticket', 'availability', '99.5', '50%')] },
          ],
        },
        {
          name: 'slow burn: 2 % of the calls fail against a 0.5 % budget (4x); a ticket, no page',
          interval: '1m',
          input_series: series('nlp', 100, 2, 300),
          alert_rule_test: [{ eval_time: '3h', alertname: A, exp_alerts: [alert('nlp', 'ticket', 'availability', '99.5', '2%')] }],
        },
        {
          name: 'no burn: 0.2 % of the calls fail against a 0.5 % budget; silent',
          interval: '1m',
          input_series: [...series('tts', 1000, 2, 300), ...series('tts', 10, 0, 300, 'metering')],
          alert_rule_test: [
            { eval_time: '30m', alertname: A, exp_alerts: [] },
            { eval_time: '4h', alertname: A, exp_alerts: [] },
            { eval_time: '4h', alertname: M, exp_alerts: [] },
          ],
        },
        {
          name: 'each service is judged by its objective: 50 % failing pages at 99.5 %, tickets at 90 %',
          interval: '1m',
          input_series: [...series('ocr', 10, 5, 120), ...series('iat', 10, 5, 120)],
          alert_rule_test: [
            {
              eval_time: '30m',
              alertname: A,
              exp_alerts: [alert('ocr', 'page', 'availability', '99.5', '50%'), alert('ocr', 'ticket', 'availability', '99.5', '50%'), alert('iat', 'ticket', 'availability', '90', '50%')],
            },
          ],
        },
        {
          name: 'metering: mismatches burn the metering budget; a service id with a dot matches itself only',
          interval: '1m',
          input_series: [...series('ocr', 2, 1, 120, 'metering'), ...series('web.ocr', 2, 0, 120, 'metering'), ...series('webXocr', 2, 1, 120, 'metering')],
          alert_rule_test: [
            { eval_time: '20m', alertname: M, exp_alerts: [alert('ocr', 'page', 'metering', '99.9', '50%'), alert('ocr', 'ticket', 'metering', '99.9', '50%')] },
            { eval_time: '20m', alertname: A, exp_alerts: [] },
          ],
          promql_expr_test: [
            {
              expr: 'service_id:patrol_metering_errors:budget_remaining_ratio{service_id="web.ocr"}',
              eval_time: '20m',
              exp_samples: [{ labels: 'service_id:patrol_metering_errors:budget_remaining_ratio{job="patrol", instance="patrol:9798", service_id="web.ocr", slo="metering", objective="99", slo_window="28d"}', value: 1 }],
            },
            {
              // Half the checks mismatched against a 0.1 % budget: 500x over the budget.
              expr: 'service_id:patrol_metering_errors:burn_rate{service_id="ocr"}',
              eval_time: '20m',
              exp_samples: [{ labels: 'service_id:patrol_metering_errors:burn_rate{job="patrol", instance="patrol:9798", service_id="ocr", slo="metering", objective="99.9", burn_window="1h"}', value: 500 }],
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'slo.rules.test.yml'), stringify(tests));
    const unit = run(promtool, ['test', 'rules', 'slo.rules.test.yml'], dir);
    assert.equal(unit.status, 0, unit.output);
    assert.match(unit.output, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every generated alert has severity page or ticket and a runbook anchor that docs/slo.md has', () => {
  const { config } = parseConfig(ONE_MINUTE_RULES, 'slo.yml');
  const file = parseYaml(sloRulesYaml(config, 'slo.yml')) as RuleFile;
  const alerts = file.groups.flatMap((g) => g.rules.filter((r) => r.alert));
  assert.deepEqual([...new Set(alerts.map((a) => a.alert))].sort(), ['PatrolAvailabilityBudgetBurn', 'PatrolMeteringBudgetBurn']);
  // Availability: 99.5 (ocr, nlp, tts, web.ocr) and 90 (iat); metering: 99.9 and 99 (web.ocr): a page and a ticket each.
  assert.equal(alerts.length, 8);
  const doc = readFileSync(join(ROOT, 'docs', 'slo.md'), 'utf8');
  const anchors = new Set([...doc.matchAll(/^#+\s+(.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const a of alerts) {
    assert.ok(a.labels?.severity === 'page' || a.labels?.severity === 'ticket', a.alert);
    const anchor = a.annotations?.runbook_url.split('#')[1] ?? '';
    assert.ok(a.annotations?.runbook_url.includes('/docs/slo.md#'), a.annotations?.runbook_url);
    assert.ok(anchors.has(anchor), `docs/slo.md has no heading for #${anchor}`);
  }
});

test('patrol slo-rules: to standard output or --out; alerts/patrol.slo.rules.yml is what it makes of examples/demo.yml', async () => {
  const shipped = readFileSync(join(ROOT, 'alerts', 'patrol.slo.rules.yml'), 'utf8');
  const stdout = await runPatrol(['slo-rules', '--config.file=examples/demo.yml']);
  assert.equal(stdout.code, 0, stdout.stderr);
  assert.equal(stdout.stdout, shipped, 'alerts/patrol.slo.rules.yml is stale: run npx patrol slo-rules --config.file=examples/demo.yml --out=alerts/patrol.slo.rules.yml');
  const dir = mkdtempSync(join(tmpdir(), 'patrol-slo-'));
  try {
    const out = join(dir, 'rules.yml');
    const written = await runPatrol(['slo-rules', '--config.file=examples/demo.yml', `--out=${out}`]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(written.stdout, '');
    assert.equal(readFileSync(out, 'utf8'), shipped);
    // No window given and rounds once a year: 28 days cannot hold ten of them.
    const sparse = join(dir, 'sparse.yml');
    writeFileSync(sparse, configText('', '0 0 1 1 *', { a: undefined }));
    const refused = await runPatrol(['slo-rules', `--config.file=${sparse}`, `--out=${join(dir, 'no.yml')}`]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /sparse\.yml: services\[0\] \(a\): its availability window of 28d can hold fewer than 10 rounds of global\.schedule "0 0 1 1 \*": give global\.slo\.availability\.window \(or the service's\) of at least \d+d/);
    assert.ok(!existsSync(join(dir, 'no.yml')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("docs/slo.md's table of windows per schedule is what the generator chooses", () => {
  const doc = readFileSync(join(ROOT, 'docs', 'slo.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|$/gm)];
  assert.ok(rows.length >= 3, 'the table is found');
  for (const [, schedule, windows] of rows) {
    const { info } = sloRules(parseConfig(configText('', schedule, { a: undefined }), 'slo.yml').config);
    const text = info.tiers.map((t) => `${durationText(t.long)}/${durationText(t.short)}`).join(', ');
    assert.equal(windows.trim(), text, schedule);
  }
});
