// The status page at `/`, in one locale (digest.locale) for every fixed word: the last round as the original email's table (the same five columns,
// red rows for failures) plus each service's verdict and reason, the day's success per service and
// a strip of recent verdicts. Plain HTML: no JavaScript, no external resources, every value escaped.
import { overviewFromRounds } from '../store/overview.js';
import type { ServiceOverview } from '../store/types.js';
import type { RoundResult } from '../types.js';
import { meteringCell, ratioText, readingCell, verdictClass, yesNo } from '../present/cells.js';
import { esc, localiseCut } from '../present/escape.js';
import { labelsFor, type Locale } from '../present/labels.js';
import { verdictStrip } from '../present/strip.js';
import { summariseRound } from '../present/summary.js';
import { dateTime, dayIn } from '../util/time.js';
import { excerpt } from '../redact.js';
import { layout } from './html.js';
import { windowsSection } from './maintenance.js';
import type { ListedWindow } from '../maintenance.js';

export interface StatusExtras {
  timezone: string;
  locale?: Locale;
  /** --web.telemetry-path, for the link (default /metrics). */
  telemetryPath?: string;
  /** Per service: today's success and recent verdicts (RoundStore.overview). */
  services?: ServiceOverview[];
  redact?: (text: string) => string;
  /** The instant whose day the page names (default: now); the server passes the one it queried. */
  now?: number;
  /** Maintenance windows open now or planned (docs/maintenance.md). */
  maintenance?: ListedWindow[];
}

const MAX_REASON = 300;

export function statusPage(round: RoundResult | null, progress: { done: number; total: number } | null, extras: StatusExtras = { timezone: 'UTC' }): string {
  const l = labelsFor(extras.locale ?? 'zh');
  const redact = extras.redact ?? ((t: string) => t);
  const e = (v: unknown, max = 200) => esc(localiseCut(excerpt(String(v ?? ''), max, redact), l.page.cut));
  const tz = extras.timezone;
  const todayDay = dayIn(tz, extras.now ?? Date.now());

  const parts: string[] = ['<h1>patrol_exporter</h1>'];
  parts.push(`<nav><a href="${e(extras.telemetryPath ?? '/metrics')}">${e(extras.telemetryPath ?? '/metrics')}</a><a href="/api/rounds/latest">/api/rounds/latest</a><a href="/api/rounds?date=${e(todayDay)}">/api/rounds?date=${e(todayDay)}</a><a href="/-/healthy">/-/healthy</a><a href="/-/ready">/-/ready</a></nav>`);
  if (progress) parts.push(`<p class="running">${e(l.page.running(progress.done, progress.total || '?'))}</p>`);

  if (!round) {
    parts.push(`<p>${e(l.page.noRoundYet)}</p>`);
  } else {
    const s = summariseRound(round);
    parts.push(`<p class="summary"><b>${e(l.summary(s.run, s.ok, s.failed, s.other, s.maintenance))}</b></p>`);
    parts.push(`<p class="muted">${e(l.latestRound)}: ${e(dateTime(tz, round.finishedAt))} (${e(tz)}), ${e(round.durationSeconds.toFixed(1))} s, ${e(l.page.triggers[round.trigger] ?? round.trigger)}${round.aborted ? `, ${e(l.page.aborted)}` : ''}</p>`);
    const head = [l.colName, l.colBefore, l.colAfter, l.colMetering, l.colCall, l.page.colVerdict, l.page.colReason].map((h) => `<th>${e(h)}</th>`).join('');
    const rows = round.services
      .map((svc, i) => {
        const row = s.rows[i];
        const link = `/services/${encodeURIComponent(svc.serviceId)}`;
        return `<tr class="${verdictClass(row.verdict)}" data-service="${e(svc.serviceId)}" data-verdict="${e(svc.verdict)}">
<td class="name"><a href="${e(link)}">${e(svc.name)}</a><br><small>${e(svc.serviceId)}</small></td><td>${e(readingCell(row.before, l.queryFailed, 'html'))}</td><td>${e(readingCell(row.after, l.queryFailed, 'html'))}</td>
<td>${e(meteringCell(row, l))}</td><td>${e(yesNo(row.callOk, l, 'html'))}</td>
<td class="verdict"><b>${e(l.verdicts[svc.verdict])}</b><br><code>${e(svc.verdict)}</code></td><td class="long"><div>${e(svc.reason, MAX_REASON)}</div></td></tr>`;
      })
      .join('\n');
    parts.push(`<table class="round"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>`);
  }

  const windows = windowsSection(extras.maintenance ?? [], l, tz, (v) => e(v));
  if (windows) parts.push(windows);

  // The day per service, with a strip of the most recent verdicts (newest on the right).
  const services = extras.services ?? overviewFromRounds(round, [], round ? [round] : []);
  if (services.length > 0) {
    const dayRows = services
      .map((o) => {
        const strip = verdictStrip(o.recent, { width: 300, height: 14, label: l.page.recentStrip(o.name), title: (p) => `${dateTime(tz, p.at)} ${l.verdicts[p.verdict]}` });
        const link = `/services/${encodeURIComponent(o.serviceId)}`;
        return `<tr data-service="${e(o.serviceId)}"><td class="name"><a href="${e(link)}">${e(o.name)}</a></td><td>${e(o.roundsToday)}</td><td>${e(o.okToday)}</td><td>${e(ratioText(o.roundsToday ? o.okToday / o.roundsToday : null))}</td><td>${strip}</td></tr>`;
      })
      .join('\n');
    parts.push(`<h2>${e(l.theDay)} ${e(todayDay)}</h2>`);
    parts.push(`<table class="day"><thead><tr><th>${e(l.colName)}</th><th>${e(l.colRounds)}</th><th>${e(l.page.colOkRounds)}</th><th>${e(l.colSuccess)}</th><th>${e(l.page.colRecent)}</th></tr></thead>\n<tbody>\n${dayRows}\n</tbody></table>`);
    parts.push(`<p class="muted">${e(l.legend)}</p>`);
  }
  return layout('patrol_exporter', parts.join('\n'), extras.locale === 'en' ? 'en' : 'zh-CN');
}
