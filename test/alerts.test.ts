// Checks the monitoring artefacts that ship with the exporter: the Prometheus rules and their
// unit tests (promtool), the Alertmanager example (amtool), the Grafana dashboard and its
// provisioning, the example Prometheus config and the container files.
//
//   node --import tsx --test test/alerts.test.ts
//
// promtool/amtool come from the Debian packages prometheus and prometheus-alertmanager; see
// test/helpers/tools.ts for what happens when they are missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { eventually, freePort } from './helpers/process.js';
import { requireTool } from './helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RULES = join(ROOT, 'alerts', 'patrol.rules.yml');
/** The rules `patrol slo-rules` writes for examples/demo.yml (test/slo-rules.test.ts keeps it up to date). */
const SLO_RULES = join(ROOT, 'alerts', 'patrol.slo.rules.yml');
/** The same cases at two schedules: the rules count rounds, so both must pass. */
const RULE_TESTS = [
  { file: join(ROOT, 'alerts', 'patrol.rules.15s.test.yml'), evaluationInterval: '5s' },
  { file: join(ROOT, 'alerts', 'patrol.rules.1h.test.yml'), evaluationInterval: '1m' },
];
const AM_CONFIG = join(ROOT, 'alerts', 'alertmanager.example.yml');
const DASHBOARD = join(ROOT, 'grafana', 'dashboards', 'patrol.json');
const DS_PROVISIONING = join(ROOT, 'grafana', 'provisioning', 'datasources', 'prometheus.yml');
const DASH_PROVISIONING = join(ROOT, 'grafana', 'provisioning', 'dashboards', 'patrol.yml');
const PROM_CONFIG = join(ROOT, 'deploy', 'prometheus.yml');
const COMPOSE = join(ROOT, 'docker-compose.yml');
const DOCKERFILE = join(ROOT, 'Dockerfile');
const RUNBOOKS = join(ROOT, 'docs', 'alerts.md');
const RUNBOOK_BASE = 'https://github.com/patrol-exporter/patrol_exporter/blob/main/docs/alerts.md';

/** The metrics contract (README, Metrics), plus patrol_next_round_timestamp_seconds (the staleness input). */
const CONTRACT_METRICS = [
  'patrol_service_info',
  'patrol_service_success',
  'patrol_call_success',
  'patrol_call_duration_seconds',
  'patrol_auth_check_success',
  'patrol_usage_calls',
  'patrol_count_query_success',
  'patrol_metering_delta',
  'patrol_metering_expected_delta',
  'patrol_metering_success',
  'patrol_metering_settle_seconds',
  'patrol_service_last_run_timestamp_seconds',
  'patrol_service_consecutive_failures',
  'patrol_metering_unexplained_delta',
  'patrol_metering_unexplained_units_total',
  'patrol_service_maintenance',
  'patrol_calls_total',
  'patrol_call_failures_total',
  'patrol_metering_checks_total',
  'patrol_metering_mismatches_total',
  'patrol_rounds_total',
  'patrol_round_failures_total',
  'patrol_rounds_skipped_total',
  'patrol_rounds_aborted_total',
  'patrol_history_write_failures_total',
  'patrol_round_duration_seconds',
  'patrol_last_round_timestamp_seconds',
  'patrol_next_round_timestamp_seconds',
  'patrol_digest_last_success_timestamp_seconds',
  'patrol_digest_failures_total',
  'patrol_digest_outbox_messages',
  'patrol_config_last_reload_successful',
  'patrol_build_info',
  // prom-client's default metrics (the metrics contract: process_*)
  'process_start_time_seconds',
];

// ---------------------------------------------------------------- helpers

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; interval?: string; rules: Rule[] }[];
}
interface RuleTestFile {
  rule_files: string[];
  evaluation_interval?: string;
  tests: {
    name?: string;
    interval?: string;
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[];
    promql_expr_test?: { expr: string }[];
  }[];
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string; datasource?: { type?: string; uid?: string } }[];
  panels?: Panel[];
  gridPos?: { h: number; w: number; x: number; y: number };
}

function readYaml<T>(path: string): T {
  return parseYaml(readFileSync(path, 'utf8')) as T;
}

function run(bin: string, args: string[], cwd = ROOT): { status: number | null; output: string } {
  const res = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}` };
}

const PROMQL_KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan',
]);

/**
 * The metric names a PromQL expression selects. Not a full parser, but enough for our
 * expressions: strings, label matchers, ranges, grouping clauses, Grafana variables and
 * function/aggregation names are removed, and what is left that looks like an identifier is a
 * metric name.
 */
function metricNames(expr: string): string[] {
  let s = expr;
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  s = s.replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  s = s.replace(/\boffset\s+-?\w+/gi, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const start = m.index ?? 0;
    const before = start > 0 ? s[start - 1] : '';
    if (before && /[0-9.]/.test(before)) continue; // exponent or unit of a number: 1e3, 5m
    if (s.slice(start + word.length).trimStart().startsWith('(')) continue; // function, aggregation
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** What Grafana puts in place of the dashboard's variables (All selected, a one-hour range). */
function grafanaSubstitute(expr: string): string {
  return expr.replaceAll('$service_id', '.*').replaceAll('$job', '.+').replaceAll('$instance', '.+').replaceAll('$__range', '1h');
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const rules = readYaml<RuleFile>(RULES);
const alertRules = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));
const alertNames = [...new Set(alertRules.map((r) => r.alert as string))];
const recordNames = rules.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => r.record as string));
const sloRules = readYaml<RuleFile>(SLO_RULES);
const sloRecordNames = sloRules.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => r.record as string));
const sloAlertNames = [...new Set(sloRules.groups.flatMap((g) => g.rules.filter((r) => r.alert).map((r) => r.alert as string)))];
const ALLOWED_METRICS = new Set([...CONTRACT_METRICS, ...recordNames, ...sloRecordNames, 'up']);
/** Recording rules that remember the round in which a condition began (they read themselves). */
const roundMemory = new Set(recordNames.filter((n) => n.endsWith(':timestamp_seconds')));

function durationSeconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return total;
}

// ---------------------------------------------------------------- promtool / amtool

test('promtool check rules accepts alerts/patrol.rules.yml', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const { status, output } = run(promtool, ['check', 'rules', RULES]);
  assert.equal(status, 0, output);
  assert.match(output, /SUCCESS/);
});

test('promtool test rules passes at both schedules (15 s and 1 h rounds)', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const { status, output } = run(promtool, ['test', 'rules', ...RULE_TESTS.map((r) => r.file)], join(ROOT, 'alerts'));
  assert.equal(status, 0, output);
  assert.equal(output.match(/SUCCESS/g)?.length, RULE_TESTS.length, output);
});

test('promtool check config accepts deploy/prometheus.yml and finds the rules', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const { status, output } = run(promtool, ['check', 'config', PROM_CONFIG]);
  assert.equal(status, 0, output);
  assert.match(output, /2 rule files found/);
});

test('amtool check-config accepts alerts/alertmanager.example.yml', (t) => {
  const amtool = requireTool(t, 'amtool');
  if (!amtool) return;
  const { status, output } = run(amtool, ['check-config', AM_CONFIG]);
  assert.equal(status, 0, output);
  assert.match(output, /SUCCESS/);
});

test('every dashboard query is valid PromQL (parsed by promtool)', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { name: string; query?: unknown }[] } };
  const records: { record: string; expr: string }[] = [];
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) {
      records.push({
        record: `dashboard_check:panel${panel.id}:${target.refId}`,
        expr: grafanaSubstitute(String(target.expr)),
      });
    }
  }
  assert.ok(records.length > 0);
  const dir = mkdtempSync(join(tmpdir(), 'patrol-dashboard-'));
  try {
    const file = join(dir, 'dashboard.rules.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: records }] }));
    const { status, output } = run(promtool, ['check', 'rules', file]);
    assert.equal(status, 0, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- rules vs tests vs runbooks

test('at each schedule, every alert has a promtool case where it fires and one where it stays silent', () => {
  const tested = new Set<string>();
  for (const { file, evaluationInterval } of RULE_TESTS) {
    const tests = readYaml<RuleTestFile>(file);
    assert.deepEqual(tests.rule_files, ['patrol.rules.yml']);
    assert.equal(tests.evaluation_interval, evaluationInterval, file);
    const fires = new Set<string>();
    const silent = new Set<string>();
    for (const group of tests.tests) {
      for (const c of group.alert_rule_test ?? []) {
        if ((c.exp_alerts ?? []).length > 0) fires.add(c.alertname);
        else silent.add(c.alertname);
      }
      for (const c of group.promql_expr_test ?? []) for (const name of metricNames(c.expr)) tested.add(name);
    }
    for (const name of alertNames) {
      assert.ok(fires.has(name), `${file}: no promtool test case expects ${name} to fire`);
      assert.ok(silent.has(name), `${file}: no promtool test case expects ${name} to stay silent`);
    }
    for (const name of [...fires, ...silent]) {
      assert.ok(alertNames.includes(name), `${file}: the tests mention ${name}, which is not an alert in the rules`);
    }
  }
  // The round memory rules are exercised through the alerts that read them; the dashboard's
  // ratios have their own expression tests.
  for (const name of recordNames) {
    assert.ok(tested.has(name), `recording rule ${name} has no promql_expr_test`);
  }
});

test('the 15 s and 1 h rule tests run the same cases', () => {
  const cases = RULE_TESTS.map(({ file }) =>
    new Set(readYaml<RuleTestFile>(file).tests.filter((g) => (g.alert_rule_test ?? []).length > 0).map((g) => (g.name ?? '').replace(/^(15s|1h) rounds: /, ''))),
  );
  const [fast, slow] = cases;
  // Day-scale digest cases (3 h outbox, 26 h overdue) only run at one-minute evaluations.
  const dayScale = (name: string) => /outbox for 3h|overdue after 26h/.test(name);
  for (const name of fast) assert.ok(slow.has(name), `1 h rounds lack the case "${name}"`);
  for (const name of slow) assert.ok(fast.has(name) || dayScale(name), `15 s rounds lack the case "${name}"`);
});

test('per-service alerts count rounds: `for` is only a guard shorter than a 15 s round', () => {
  const perService = alertRules.filter((r) => /patrol_(call|auth_check|count_query|metering|service)_/.test(r.expr));
  assert.ok(perService.length >= 8);
  for (const rule of perService) {
    const seconds = durationSeconds(rule.for ?? '0s');
    // The recurring-mismatch warning is the one windowed alert (episodes in 6h), and has no for.
    assert.ok(seconds < 15, `${rule.alert}: for ${rule.for} is longer than a round at the fastest schedule`);
    const countsRounds =
      rule.expr.includes('patrol_service_consecutive_failures') ||
      [...roundMemory].some((n) => rule.expr.includes(n)) ||
      // Immediate by design: one accepted bad credential, one round of usage nobody made.
      rule.alert === 'PatrolAuthCheckFailing' ||
      rule.alert === 'PatrolUnexplainedUsage' ||
      rule.alert === 'PatrolMeteringMismatchesRecurring';
    assert.ok(countsRounds, `${rule.alert}: neither counts rounds nor is immediate`);
  }
});

test('the required alerts exist, with severity, summary, description and a runbook', () => {
  for (const required of [
    'PatrolServiceCallFailing',
    'PatrolMeteringMismatch',
    'PatrolCountQueryFailing',
    'PatrolAuthCheckFailing',
    'PatrolRoundsStale',
    'PatrolExporterDown',
    'PatrolSlowCalls',
    'PatrolDigestFailing',
    'PatrolConfigReloadFailed',
    'PatrolUnexplainedUsage',
    'PatrolHistoryWriteFailing',
    'PatrolServiceFailing',
  ]) {
    assert.ok(alertNames.includes(required), `missing alert ${required}`);
  }
  const runbooks = readFileSync(RUNBOOKS, 'utf8');
  const headings = new Set([...runbooks.matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1]));
  for (const rule of alertRules) {
    const name = rule.alert as string;
    assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${name}: severity must be critical or warning`);
    for (const key of ['summary', 'description', 'runbook_url']) {
      assert.ok((rule.annotations?.[key] ?? '').trim() !== '', `${name}: missing annotation ${key}`);
    }
    assert.equal(rule.annotations?.runbook_url, `${RUNBOOK_BASE}#${name.toLowerCase()}`, `${name}: runbook_url`);
    assert.ok(headings.has(name), `docs/alerts.md has no "## ${name}" section`);
  }
  // Bad credentials accepted is a security hole: critical, and no waiting for a second round.
  const auth = alertRules.filter((r) => r.alert === 'PatrolAuthCheckFailing');
  assert.ok(auth.every((r) => r.labels?.severity === 'critical' && (r.for === undefined || r.for === '0m' || r.for === '0s')));
  // The metering alert says which way the counter is wrong.
  const directions = alertRules.filter((r) => r.alert === 'PatrolMeteringMismatch').map((r) => r.labels?.direction);
  assert.deepEqual(directions.sort(), ['overcharge', 'undercharge']);
});

test('rules only use contract metrics, recording rules and up', () => {
  for (const group of rules.groups) {
    for (const rule of group.rules) {
      for (const name of metricNames(rule.expr)) {
        assert.ok(ALLOWED_METRICS.has(name), `${rule.alert ?? rule.record}: unknown metric ${name}`);
      }
    }
  }
  assert.ok(rules.groups.some((g) => g.name === 'patrol.recording'));
  for (const name of recordNames) assert.match(name, /^[a-z_]+:patrol_[a-z_]+:[a-z0-9_]+$/, `recording rule name ${name}`);
});

test('the PromQL metric name extractor finds what it should', () => {
  assert.deepEqual(
    metricNames('sum by (service_id) (increase(patrol_calls_total{service_id=~"$service_id"}[1h])) * on(job) group_left(name) patrol_service_info'),
    ['patrol_calls_total', 'patrol_service_info'],
  );
  assert.deepEqual(metricNames('time() - patrol_next_round_timestamp_seconds > 26 * 3600 and up{job="patrol"} == 1e3'), [
    'patrol_next_round_timestamp_seconds',
    'up',
  ]);
  assert.deepEqual(metricNames('avg_over_time(patrol_sevice_success[5m] offset 1h)'), ['patrol_sevice_success']);
  assert.deepEqual(metricNames('service_id:patrol_call_success:avg_over_time1h{service_id=~"a|b"}'), [
    'service_id:patrol_call_success:avg_over_time1h',
  ]);
});

// ---------------------------------------------------------------- Alertmanager example

interface AmConfig {
  route: { receiver: string; group_by: string[]; group_wait?: string; group_interval?: string; routes: { matchers: string[]; receiver: string }[] };
  inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
  receivers: { name: string; webhook_configs?: unknown[]; email_configs?: unknown[] }[];
}

/** Alertmanager's matcher syntax as the example uses it: name="v", name!="v", name=~"re". */
function matches(matcher: string, labels: Record<string, string>): boolean {
  const m = /^(\w+)(=~|!=|=)"(.*)"$/.exec(matcher);
  if (!m) throw new Error(`matcher not understood: ${matcher}`);
  const value = labels[m[1]] ?? '';
  if (m[2] === '=') return value === m[3];
  if (m[2] === '!=') return value !== m[3];
  return new RegExp(`^(?:${m[3]})$`).test(value);
}

/** Whether a firing `source` mutes `target` under the example's inhibit rules. */
function inhibits(am: AmConfig, source: Record<string, string>, target: Record<string, string>): boolean {
  return am.inhibit_rules.some(
    (r) =>
      r.source_matchers.every((m) => matches(m, source)) &&
      r.target_matchers.every((m) => matches(m, target)) &&
      r.equal.every((l) => (source[l] ?? '') === (target[l] ?? '')),
  );
}

test('alertmanager example: routes by severity, one group per exporter and service, the cause wins', () => {
  const am = readYaml<AmConfig>(AM_CONFIG);
  assert.deepEqual(am.route.group_by, ['job', 'instance', 'service_id']);
  const receiver = (name: string) => am.receivers.find((r) => r.name === name);
  const critical = am.route.routes.find((r) => r.matchers.includes('severity="critical"'));
  const warning = am.route.routes.find((r) => r.matchers.includes('severity="warning"'));
  assert.ok(critical && receiver(critical.receiver)?.webhook_configs?.length, 'critical alerts go to a webhook receiver');
  assert.ok(warning && receiver(warning.receiver)?.email_configs?.length, 'warnings go to an email receiver');

  // Every alert name an inhibit rule mentions exists (regex alternatives included).
  for (const r of am.inhibit_rules) {
    for (const m of [...r.source_matchers, ...r.target_matchers]) {
      const names = /^alertname=~?"(.+)"$/.exec(m)?.[1].split('|') ?? [];
      for (const name of names) assert.ok(alertNames.includes(name) || sloAlertNames.includes(name), `inhibit rule names unknown alert ${name}`);
    }
  }

  const at = { job: 'patrol', instance: 'exporter:9798' };
  const svc = (alertname: string, extra: Record<string, string> = {}) => ({ ...at, service_id: 'iat', alertname, ...extra });
  const perService = alertNames.filter((n) => !['PatrolExporterDown', 'PatrolRoundsStale', 'PatrolHistoryWriteFailing', 'PatrolDigestFailing', 'PatrolConfigReloadFailed'].includes(n));
  for (const name of perService) {
    assert.ok(inhibits(am, { ...at, alertname: 'PatrolExporterDown' }, svc(name)), `PatrolExporterDown mutes ${name}`);
    assert.ok(inhibits(am, { ...at, alertname: 'PatrolRoundsStale' }, svc(name)), `PatrolRoundsStale mutes ${name}`);
  }
  assert.ok(inhibits(am, { ...at, alertname: 'PatrolExporterDown' }, { ...at, alertname: 'PatrolRoundsStale' }));
  // Only on the same exporter.
  assert.ok(!inhibits(am, { ...at, alertname: 'PatrolExporterDown' }, { ...svc('PatrolServiceCallFailing'), instance: 'other:9798' }));

  const over = svc('PatrolMeteringMismatch', { direction: 'overcharge' });
  const under = svc('PatrolMeteringMismatch', { direction: 'undercharge' });
  const auth = svc('PatrolAuthCheckFailing', { check: 'wrong_secret' });
  assert.ok(inhibits(am, auth, over), 'an accepted bad credential explains the overcharge');
  assert.ok(!inhibits(am, auth, under), 'but not an undercharge');
  assert.ok(!inhibits(am, auth, { ...over, service_id: 'tts' }), 'only for the same service');
  for (const target of [over, under, svc('PatrolUnexplainedUsage'), svc('PatrolMeteringMismatchesRecurring')]) {
    assert.ok(inhibits(am, svc('PatrolCountQueryFailing'), target), `count query failing mutes ${target.alertname}`);
  }
  assert.ok(inhibits(am, under, svc('PatrolUnexplainedUsage')), 'late charges: the undercharge wins');
  assert.ok(!inhibits(am, over, svc('PatrolUnexplainedUsage')));
  assert.ok(inhibits(am, over, svc('PatrolMeteringMismatchesRecurring')));
  assert.ok(inhibits(am, svc('PatrolServiceCallFailing'), svc('PatrolSlowCalls', { call: 'dictate' })));
  // A failed call that is also charged is two symptoms, both shown, in one notification (same group).
  assert.ok(!inhibits(am, svc('PatrolServiceCallFailing'), over) && !inhibits(am, over, svc('PatrolServiceCallFailing')));

  // No two alerts mute each other (both would vanish).
  const samples = [
    ...alertNames.map((n) => svc(n)),
    over, under, auth,
    { ...at, alertname: 'PatrolDigestFailing', reason: 'delivery_failed' },
    { ...at, alertname: 'PatrolDigestFailing', reason: 'outbox_backlog' },
  ];
  for (const a of samples) {
    for (const b of samples) {
      if (a !== b) assert.ok(!(inhibits(am, a, b) && inhibits(am, b, a)), `${a.alertname} and ${b.alertname} mute each other`);
    }
  }
});

interface Notification {
  receiver: string;
  status: string;
  groupLabels: Record<string, string>;
  alerts: { status: string; labels: Record<string, string> }[];
}

test('a real Alertmanager with the example routing and inhibitions sends one notification per cause and service', async (t) => {
  const amBin = requireTool(t, 'alertmanager');
  if (!amBin) return;
  // A receiver that records every notification (both of the example's receivers post here).
  const received: Notification[] = [];
  const hook = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Notification);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}`;

  // The example's route and inhibit rules as they are; receivers pointed at the recorder and
  // timings shortened so the test does not wait minutes.
  const example = readYaml<AmConfig & { receivers: { name: string }[] }>(AM_CONFIG);
  const config = {
    route: { ...example.route, group_wait: '1s', group_interval: '1s' },
    inhibit_rules: example.inhibit_rules,
    receivers: example.receivers.map((r) => ({ name: r.name, webhook_configs: [{ url: `${hookUrl}/${r.name}`, send_resolved: true }] })),
  };
  const dir = mkdtempSync(join(tmpdir(), 'patrol-am-'));
  writeFileSync(join(dir, 'am.yml'), JSON.stringify(config));
  const port = await freePort();
  const am = spawn(amBin, [`--config.file=${join(dir, 'am.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  am.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const api = `http://127.0.0.1:${port}/api/v2`;
  try {
    await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined), 60_000, `alertmanager ready (${log.slice(-300)})`);
    const a = (labels: Record<string, string>) => ({ labels: { job: 'patrol', instance: 'exporter:9798', ...labels }, annotations: { summary: labels.alertname } });
    const alerts = [
      // ocr: a bad credential accepted, and charged
      a({ alertname: 'PatrolAuthCheckFailing', severity: 'critical', service_id: 'ocr', check: 'wrong_secret' }),
      a({ alertname: 'PatrolMeteringMismatch', severity: 'critical', direction: 'overcharge', service_id: 'ocr' }),
      // nlp: a failed call that is charged: two facts, one notification
      a({ alertname: 'PatrolServiceCallFailing', severity: 'critical', service_id: 'nlp' }),
      a({ alertname: 'PatrolMeteringMismatch', severity: 'critical', direction: 'overcharge', service_id: 'nlp' }),
      // tts: late charges, every round
      a({ alertname: 'PatrolMeteringMismatch', severity: 'critical', direction: 'undercharge', service_id: 'tts' }),
      a({ alertname: 'PatrolUnexplainedUsage', severity: 'critical', service_id: 'tts' }),
      // iat: the counter cannot be read; its last metering result was a mismatch
      a({ alertname: 'PatrolCountQueryFailing', severity: 'warning', service_id: 'iat' }),
      a({ alertname: 'PatrolMeteringMismatch', severity: 'critical', direction: 'undercharge', service_id: 'iat' }),
      // another exporter is down: its old per-service results and its stale rounds stay quiet
      a({ alertname: 'PatrolExporterDown', severity: 'critical', instance: 'other:9798' }),
      a({ alertname: 'PatrolRoundsStale', severity: 'critical', instance: 'other:9798' }),
      a({ alertname: 'PatrolServiceCallFailing', severity: 'critical', instance: 'other:9798', service_id: 'asr' }),
    ];
    const post = await fetch(`${api}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
    assert.equal(post.status, 200, await post.text());

    const key = (n: Notification) => `${n.receiver} ${n.groupLabels.instance ?? ''} ${n.groupLabels.service_id ?? ''}`;
    const expected: Record<string, string[]> = {
      'pager exporter:9798 ocr': ['PatrolAuthCheckFailing'],
      'pager exporter:9798 nlp': ['PatrolMeteringMismatch', 'PatrolServiceCallFailing'],
      'pager exporter:9798 tts': ['PatrolMeteringMismatch'],
      'team-email exporter:9798 iat': ['PatrolCountQueryFailing'],
      'pager other:9798 ': ['PatrolExporterDown'],
    };
    // Critical pages also reach the team's mailbox (continue: true): each page's copy is its own
    // notification and may come a moment after the page, so the wait is for both.
    const expectedKeys = new Set([...Object.keys(expected), ...Object.keys(expected).filter((k) => k.startsWith('pager ')).map((k) => k.replace(/^pager /, 'team-email '))]);
    await eventually(async () => ([...expectedKeys].every((k) => received.some((n) => key(n) === k)) ? true : undefined), 60_000, 'a notification for every group and every copy');
    for (const [k, names] of Object.entries(expected)) {
      const notes = received.filter((n) => key(n) === k);
      assert.equal(notes.length, 1, `${k}: one notification, got ${notes.length}`);
      assert.deepEqual(notes[0].alerts.map((x) => x.labels.alertname).sort(), names, k);
    }
    // Nothing else is sent: no notification for a muted alert.
    const keys = new Set(received.map(key));
    assert.deepEqual([...keys].sort(), [...expectedKeys].sort());
    for (const n of received) for (const x of n.alerts) assert.ok(expected[key(n).replace(/^team-email /, 'pager ')]?.includes(x.labels.alertname) || expected[key(n)]?.includes(x.labels.alertname), `${key(n)} carried ${x.labels.alertname}`);

    // Alertmanager's own view: the muted ones are suppressed by the winner.
    const state = (await (await fetch(`${api}/alerts`)).json()) as { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } }[];
    const suppressed = state.filter((x) => x.status.state === 'suppressed').map((x) => [x.labels.instance, x.labels.service_id, x.labels.alertname].filter(Boolean).join(' ')).sort();
    assert.deepEqual(suppressed, [
      'exporter:9798 iat PatrolMeteringMismatch',
      'exporter:9798 ocr PatrolMeteringMismatch',
      'exporter:9798 tts PatrolUnexplainedUsage',
      'other:9798 PatrolRoundsStale',
      'other:9798 asr PatrolServiceCallFailing',
    ].sort());
  } finally {
    // Alertmanager writes its state files as it stops: remove its folder once it has exited.
    const exited = am.exitCode !== null || am.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => am.once('exit', () => resolve()));
    am.kill('SIGTERM');
    hook.close();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

// ---------------------------------------------------------------- Grafana

test('dashboard: uid, variables, and every panel has PromQL targets on allowed metrics', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    uid: string;
    schemaVersion: number;
    panels: Panel[];
    timezone: string;
    links: { url: string }[];
    templating: { list: { name: string; type: string; query?: unknown; definition?: string; multi?: boolean; includeAll?: boolean }[] };
  };
  assert.equal(dashboard.uid, 'patrol-overview');
  assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);

  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  assert.equal(vars.get('datasource')?.type, 'datasource');
  assert.equal(vars.get('datasource')?.query, 'prometheus');
  // Two exporters (or shards) can be told apart and combined: job and instance variables, and the
  // services of the selected exporters.
  assert.deepEqual([...vars.keys()], ['datasource', 'job', 'instance', 'service_id', 'exporter_url']);
  assert.equal(vars.get('job')?.definition, 'label_values(patrol_build_info, job)');
  assert.equal(vars.get('instance')?.definition, 'label_values(patrol_build_info{job=~"$job"}, instance)');
  assert.equal(vars.get('service_id')?.definition, 'label_values(patrol_service_info{job=~"$job", instance=~"$instance"}, service_id)');
  for (const name of ['job', 'instance', 'service_id']) {
    assert.equal(vars.get(name)?.type, 'query');
    assert.equal(vars.get(name)?.multi, true, `${name} is multi-value`);
    assert.equal(vars.get(name)?.includeAll, true, `${name} has All`);
  }
  assert.equal(vars.get('exporter_url')?.type, 'textbox');

  // The counters are the platform's days: the dashboard shows the platform's timezone, and every
  // "today" panel starts at its midnight.
  assert.equal(dashboard.timezone, 'Asia/Shanghai');

  const panels = allPanels(dashboard.panels);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const dataPanels = panels.filter((p) => p.type !== 'row');
  assert.ok(dataPanels.length >= 10, 'the dashboard has its panels');

  const used = new Set<string>();
  for (const panel of dataPanels) {
    const where = `panel ${panel.id} "${panel.title}"`;
    assert.ok(panel.gridPos, `${where}: gridPos`);
    assert.ok(['timeseries', 'stat', 'table', 'state-timeline', 'bargauge', 'gauge'].includes(panel.type), `${where}: core panel type, got ${panel.type}`);
    assert.equal(panel.datasource?.uid, '${datasource}', `${where}: uses the datasource variable`);
    assert.ok((panel.targets ?? []).length > 0, `${where}: has targets`);
    for (const target of panel.targets ?? []) {
      const expr = target.expr ?? '';
      assert.ok(expr.trim() !== '', `${where} ${target.refId}: empty expr`);
      assert.equal(target.datasource?.uid, '${datasource}', `${where} ${target.refId}: datasource`);
      // Only these variables, so every query runs against a plain Prometheus once substituted.
      const vars = expr.match(/\$\{?\w+\}?/g) ?? [];
      for (const v of vars) assert.ok(['$service_id', '$job', '$instance', '$__range'].includes(v), `${where} ${target.refId}: variable ${v}`);
      // Every selector follows the job and instance variables (nothing hard-coded like job="patrol").
      for (const m of expr.matchAll(/\b(up|[a-z_]*:?patrol_[a-z_:0-9]*)(\{[^}]*\})?(?!\s*\()/g)) {
        assert.ok(m[2]?.includes('job=~"$job"') && m[2].includes('instance=~"$instance"'), `${where} ${target.refId}: ${m[0]} does not follow $job and $instance`);
      }
      if (/\$__range/.test(expr)) assert.equal((panel as { timeFrom?: string }).timeFrom, 'now/d', `${where}: a "today" query runs over the platform's day`);
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${where} ${target.refId}: selects no metric`);
      for (const name of names) {
        assert.ok(ALLOWED_METRICS.has(name), `${where} ${target.refId}: metric ${name} is not in the contract`);
        used.add(name);
      }
    }
  }
  // The panels the issue asks for.
  for (const name of [
    'patrol_service_success',
    'patrol_call_success',
    'patrol_auth_check_success',
    'patrol_metering_success',
    'patrol_count_query_success',
    'patrol_call_duration_seconds',
    'patrol_usage_calls',
    'patrol_metering_delta',
    'patrol_metering_expected_delta',
    'patrol_metering_settle_seconds',
    'patrol_round_duration_seconds',
    'patrol_rounds_total',
    'patrol_rounds_skipped_total',
    'patrol_digest_last_success_timestamp_seconds',
    'patrol_metering_unexplained_units_total',
    'patrol_metering_unexplained_delta',
    'patrol_service_consecutive_failures',
    'patrol_rounds_aborted_total',
    'patrol_history_write_failures_total',
    'patrol_digest_outbox_messages',
    'patrol_service_maintenance',
  ]) {
    assert.ok(used.has(name), `no panel shows ${name}`);
  }

  // A table's per-column settings name columns that exist after the renaming transformation.
  for (const panel of dataPanels.filter((p) => p.type === 'table')) {
    const p = panel as Panel & { transformations?: { id: string; options: { renameByName?: Record<string, string> } }[]; fieldConfig?: { overrides?: { matcher: { id: string; options: string } }[] } };
    const columns = new Set(Object.values(p.transformations?.find((x) => x.id === 'organize')?.options.renameByName ?? {}));
    for (const o of p.fieldConfig?.overrides ?? []) {
      if (o.matcher.id === 'byName') assert.ok(columns.has(o.matcher.options), `panel ${panel.id}: override for unknown column ${o.matcher.options}`);
    }
  }

  // Links to the exporter's own pages: the status page from the dashboard and its panels, a
  // service's details page from every per-service panel.
  assert.ok(dashboard.links.some((l) => l.url === '${exporter_url}/'), 'dashboard links to the status page');
  const serviceLink = /^\$\{exporter_url\}\/services\/\$\{__(field\.labels|data\.fields)\.service_id\}$/;
  for (const panel of dataPanels) {
    const perService = (panel.targets ?? []).some((t) => (t.expr ?? '').includes('service_id=~"$service_id"'));
    if (!perService) continue;
    const p = panel as Panel & { fieldConfig?: { defaults?: { links?: { url: string }[] }; overrides?: { properties: { id: string; value: { url: string }[] }[] }[] } };
    const urls = [
      ...(p.fieldConfig?.defaults?.links ?? []),
      ...(p.fieldConfig?.overrides ?? []).flatMap((o) => o.properties.filter((x) => x.id === 'links').flatMap((x) => x.value)),
    ].map((l) => l.url);
    if (panel.type === 'stat') continue; // a sum over services has no single service to link to
    assert.ok(urls.some((u) => serviceLink.test(u)), `panel ${panel.id} "${panel.title}" links to /services/<id>`);
  }
});

test('grafana provisioning files are valid YAML and point at the dashboard', () => {
  const ds = readYaml<{ apiVersion: number; datasources: { type: string; url: string }[] }>(DS_PROVISIONING);
  assert.equal(ds.apiVersion, 1);
  assert.equal(ds.datasources[0]?.type, 'prometheus');
  assert.match(ds.datasources[0]?.url ?? '', /^https?:\/\//);
  const dash = readYaml<{ apiVersion: number; providers: { type: string; options: { path: string } }[] }>(DASH_PROVISIONING);
  assert.equal(dash.apiVersion, 1);
  assert.equal(dash.providers[0]?.type, 'file');
  const compose = readYaml<{ services: Record<string, { volumes?: string[] }> }>(COMPOSE);
  const grafanaMounts = compose.services.grafana?.volumes ?? [];
  assert.ok(
    grafanaMounts.some((v) => v.startsWith('./grafana/dashboards:') && v.split(':')[1] === dash.providers[0]?.options.path),
    'docker-compose.yml mounts grafana/dashboards where the provider looks',
  );
  assert.ok(grafanaMounts.some((v) => v.startsWith('./grafana/provisioning:/etc/grafana/provisioning')));
});

// ---------------------------------------------------------------- deployment files

test('deploy/prometheus.yml scrapes the exporter and loads the rules', () => {
  const prom = readYaml<{
    global: { scrape_interval: string };
    rule_files: string[];
    alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    scrape_configs: { job_name: string; scrape_interval?: string; static_configs: { targets: string[] }[] }[];
  }>(PROM_CONFIG);
  const job = prom.scrape_configs.find((j) => j.job_name === 'patrol');
  assert.ok(job, 'job patrol');
  // Twice per round of the demo (30 s): the alert rules count rounds and must see each one.
  assert.equal(job.scrape_interval ?? prom.global.scrape_interval, '15s');
  assert.deepEqual(job.static_configs[0]?.targets, ['exporter:9798']);
  assert.ok(prom.rule_files.some((f) => resolve(dirname(PROM_CONFIG), f) === RULES), 'rule_files loads alerts/patrol.rules.yml');
  assert.deepEqual(prom.alerting.alertmanagers[0]?.static_configs[0]?.targets, ['alertmanager:9093']);
});

test('docker-compose.yml runs the demo, Prometheus, Alertmanager and Grafana with files that exist', () => {
  const compose = readYaml<{ services: Record<string, { command?: string[]; volumes?: string[]; build?: unknown; image?: string }> }>(COMPOSE);
  for (const svc of ['exporter', 'prometheus', 'alertmanager', 'grafana']) assert.ok(compose.services[svc], `service ${svc}`);
  assert.deepEqual(compose.services.exporter?.command, ['demo', '--web.listen-address=:9798', '--storage.path=/var/lib/patrol/patrol-demo.db']);
  assert.ok(compose.services.exporter?.build, 'the exporter is built from this repository');
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const volume of svc.volumes ?? []) {
      const source = volume.split(':')[0] ?? '';
      if (source.startsWith('.')) assert.ok(existsSync(join(ROOT, source)), `${name}: mount source ${source} exists`);
    }
  }
  const promArgs = compose.services.prometheus?.command ?? [];
  const configArg = promArgs.find((a) => a.startsWith('--config.file='));
  assert.equal(configArg, '--config.file=/etc/prometheus/deploy/prometheus.yml');
  const amMounts = compose.services.alertmanager?.volumes ?? [];
  assert.ok(amMounts.some((v) => v.startsWith('./alerts/alertmanager.example.yml:')));
});

test('Dockerfile: multi-stage on one pinned Node.js LTS base, compiled JS only, slim non-root runtime, port 9798, healthcheck, entrypoint', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const froms = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], stage: m[2] }));
  assert.ok(froms.length >= 2, 'multi-stage');
  // Every stage on one base image (native modules built in one stage run in another), pinned to an
  // exact release of an LTS line (even major, 24 or later: Node 20 and 22 are past or near their end).
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1] ?? '';
  assert.ok(froms.every((f) => f.image === '${NODE_IMAGE}'), `every stage FROM \${NODE_IMAGE}: ${JSON.stringify(froms)}`);
  const pinned = /^node:(\d+)\.\d+\.\d+-(\w+)-slim(@sha256:[0-9a-f]{64})?$/.exec(base);
  assert.ok(pinned, `base image pinned to an exact slim release: ${base}`);
  assert.ok(Number(pinned[1]) >= 24 && Number(pinned[1]) % 2 === 0, `an LTS line: ${base}`);
  assert.match(text, /RUN npm ci(?!.*--omit=dev)/);
  assert.match(text, /RUN npm run build/);
  assert.match(text, /npm ci --omit=dev/);
  // The runtime's node_modules come from the --omit=dev install: no TypeScript tooling in the image.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  for (const tool of ['tsx', 'typescript']) {
    assert.ok(!(tool in pkg.dependencies) && tool in pkg.devDependencies, `${tool} is a dev dependency only`);
  }
  assert.match(text, /^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
  assert.match(text, /^COPY --from=build \S*dist \.\/dist$/m);
  assert.doesNotMatch(text.slice(text.lastIndexOf('FROM ')), /^COPY\s+(?:--chown=\S+\s+)?(?:\.\/)?src\b/m, 'no TypeScript sources in the runtime stage');
  assert.match(text, /^COPY examples /m);
  const users = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(users.length > 0 && !['root', '0'].includes(users.at(-1) ?? ''), 'runs as a non-root user');
  assert.match(text, /^EXPOSE 9798$/m);
  assert.match(text, /^HEALTHCHECK [\s\S]*http:\/\/127\.0\.0\.1:9798\/-\/healthy/m);
  assert.match(text, /^ENTRYPOINT \["node", ?"--max-semi-space-size=\d+", ?"dist\/cli\.js"\]$/m);
  assert.match(text, /^CMD \["serve", ?"--config\.file=\/etc\/patrol\/patrol\.yml", ?"--web\.listen-address=:9798", ?"--storage\.path=\/var\/lib\/patrol\/patrol\.db"\]$/m);
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(entry), `.dockerignore has ${entry}`);
  for (const needed of ['src', 'examples', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
    assert.ok(!ignore.includes(needed), `.dockerignore must not exclude ${needed}`);
  }
  assert.ok(ignore.includes('!scripts/build.mjs'), 'the build step is in the build context');
  // The docker commands in the Dockerfile's header are the README's, word for word.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const commands = [...text.matchAll(/^#\s+(docker (?:build|run) .+)$/gm)].map((m) => m[1]);
  assert.ok(commands.length >= 2);
  for (const c of commands) assert.ok(readme.includes(c), `README.md shows: ${c}`);
});
