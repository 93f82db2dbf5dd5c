// End to end with a real Prometheus (Debian's) scraping the real exporter on the demo with a fault
// switched on, loading the shipped rules: every dashboard query returns data, and the alert for the
// fault fires while no other does (except the overcharge the accepted credential may cause, which
// alerts/alertmanager.example.yml mutes for the same service).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, freePort, startPatrol, tempDb } from './helpers/process.js';
import { requireTool } from './helpers/tools.js';

interface Panel { title: string; targets?: { expr: string }[]; panels?: Panel[] }

function dashboardQueries(): { title: string; expr: string }[] {
  const d = JSON.parse(readFileSync('grafana/dashboards/patrol.json', 'utf8')) as { panels: Panel[] };
  const out: { title: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) {
        // What Grafana substitutes: the job, instance and service_id variables set to All.
        out.push({ title: p.title, expr: t.expr.replaceAll('$service_id', '.*').replaceAll('$job', '.+').replaceAll('$instance', '.+').replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s').replaceAll('$__range', '1h') });
      }
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  return out;
}

test('a real Prometheus scraping the demo with bad credentials accepted: dashboard queries return data, only PatrolAuthCheckFailing fires', async (t) => {
  const prometheusBin = requireTool(t, 'prometheus');
  if (!prometheusBin) return;
  const patrol = await startPatrol(['demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=300ms', `--storage.path=${tempDb()}`]);
  const sim = /simulated platform at (http:\/\/\S+)/.exec(patrol.stderr())![1];
  const fault = await fetch(`${sim}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'ocr', faults: { acceptBadCredentials: true } }) });
  assert.equal(fault.status, 200);
  // The start-up round may have run before the fault: start one now that sees it.
  await eventually(async () => ((await fetch(`${patrol.url}/api/rounds`, { method: 'POST' })).status === 202 ? true : undefined), 60_000, 'a round started');

  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-prom-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'prometheus.yml'), `
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [${JSON.stringify(path.resolve('alerts/patrol.rules.yml'))}, ${JSON.stringify(path.resolve('alerts/patrol.slo.rules.yml'))}]
scrape_configs:
  - job_name: patrol
    static_configs: [{ targets: ["${new URL(patrol.url).host}"] }]
`);
  const prom = spawn(prometheusBin, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
  const api = `http://127.0.0.1:${port}/api/v1`;
  try {
    await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined), 60_000, `prometheus ready (${promLog.slice(-500)})`);

    const firing = await eventually(async () => {
      const body = (await (await fetch(`${api}/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
      const f = body.data.alerts.filter((a) => a.state === 'firing');
      return f.some((a) => a.labels.alertname === 'PatrolAuthCheckFailing') ? f : undefined;
    }, 60_000, 'PatrolAuthCheckFailing firing');
    const auth = firing.filter((a) => a.labels.alertname === 'PatrolAuthCheckFailing');
    assert.ok(auth.length > 0 && auth.every((a) => a.labels.service_id === 'ocr' && a.labels.severity === 'critical'));
    // Anything else firing must be what the Alertmanager example mutes under it: the overcharge of
    // the same service (the accepted bad call may be charged).
    const others = firing.filter((a) => a.labels.alertname !== 'PatrolAuthCheckFailing');
    const muted = (a: { labels: Record<string, string> }) =>
      ((a.labels.alertname === 'PatrolMeteringMismatch' && a.labels.direction === 'overcharge') || a.labels.alertname === 'PatrolMeteringBudgetBurn') && a.labels.service_id === 'ocr';
    assert.deepEqual(others.filter((a) => !muted(a)), [], 'no other alert fires');

    // Every panel's query returns data (a second of scrapes and one rule evaluation are enough).
    const empty: string[] = [];
    for (const q of dashboardQueries()) {
      // Up to 90 s: the objectives' error ratios over a day or more are evaluated once a minute
      // (alerts/patrol.slo.rules.yml), and the budget panel waits for their first evaluation.
      const ok = await eventually(async () => {
        const res = (await (await fetch(`${api}/query?query=${encodeURIComponent(q.expr)}`)).json()) as { status: string; data: { result: unknown } };
        assert.equal(res.status, 'success', q.expr);
        const r = res.data.result;
        return Array.isArray(r) ? (r.length > 0 ? true : undefined) : true;
      }, 90_000, `data for "${q.title}": ${q.expr}`).catch(() => false);
      if (!ok) empty.push(`${q.title}: ${q.expr}`);
    }
    assert.deepEqual(empty, [], 'panels without data');
  } finally {
    prom.kill('SIGTERM');
    await patrol.stop('SIGKILL');
  }
});
