// The status page at `/`: the last round as the original email's table, readable without JavaScript.
import type { RoundResult, ServiceResult } from '../types.js';
import { esc } from './html.js';

function reading(r: ServiceResult['before']): string {
  if (!r) return '–';
  return r.ok ? String(r.value) : '查量失败';
}

function yesNo(v: boolean | null): string {
  return v === null ? '–' : v ? 'yes' : 'no';
}

export function statusPage(round: RoundResult | null, progress: { done: number; total: number } | null): string {
  const rows = (round?.services ?? [])
    .map(
      (s) => `<tr class="${s.verdict === 'ok' ? 'ok' : 'bad'}">
<td>${esc(s.name)}<br><small>${esc(s.serviceId)}</small></td><td>${esc(reading(s.before))}</td><td>${esc(reading(s.after))}</td>
<td>${esc(s.delta ?? '–')}</td><td>${esc(s.expectedDelta)}</td><td>${yesNo(s.meteringOk)}</td><td>${yesNo(s.callOk)}</td><td>${yesNo(s.authOk)}</td>
<td><b>${esc(s.verdict)}</b></td><td>${esc(s.reason)}</td></tr>`,
    )
    .join('\n');
  const summary = round
    ? `Last round ${esc(new Date(round.finishedAt).toISOString())} (${esc(round.durationSeconds.toFixed(1))} s, ${esc(round.trigger)}): ` +
      `执行 ${round.services.length}, 成功 ${round.services.filter((s) => s.verdict === 'ok').length}, 失败 ${round.services.filter((s) => s.verdict !== 'ok').length}`
    : 'No round has finished yet.';
  const running = progress ? `<p>A round is running: ${progress.done}/${progress.total || '?'} services done.</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>patrol_exporter</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}
tr.bad td{background:#fdd}tr.ok td{background:#efe}small{color:#666}
</style></head><body>
<h1>patrol_exporter</h1>
<p>${summary}</p>${running}
<table><thead><tr><th>服务名称 service</th><th>今日调用量(调用前) before</th><th>今日调用量(调用后) after</th><th>delta</th><th>expected</th>
<th>扣量是否成功 metering ok</th><th>调用是否成功 call ok</th><th>auth ok</th><th>verdict</th><th>reason</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p><a href="/metrics">/metrics</a> · <a href="/api/rounds/latest">/api/rounds/latest</a> · <a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></p>
</body></html>`;
}
