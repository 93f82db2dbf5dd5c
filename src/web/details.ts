// The details page of one service (`/services/:id`), in one locale (digest.locale): its last verdicts, and for each the calls with
// status, duration, reason and the failed expectations with the values actually seen, the auth
// checks, and request/response excerpts. The probes redact and cut excerpts already; the page
// redacts again, cuts again (a stored result may come from anywhere) and escapes everything.
import type { ServiceHistoryEntry as ServiceEntry } from '../store/types.js';
import type { AuthCheckResult, CallResult, ServiceResult } from '../types.js';
import { meteringCell, readingCell, verdictClass, yesNo } from '../present/cells.js';
import { esc, localiseCut } from '../present/escape.js';
import { labelsFor, type Locale } from '../present/labels.js';
import { dateTime } from '../util/time.js';
import { excerpt } from '../redact.js';
import { layout } from './html.js';

export interface DetailsOptions {
  timezone: string;
  locale?: Locale;
  /** --web.telemetry-path, for the link (default /metrics). */
  telemetryPath?: string;
  redact?: (text: string) => string;
}

const MAX_EXCERPT = 2000;
const MAX_TEXT = 500;

export function servicePage(serviceId: string, entries: ServiceEntry[], opts: DetailsOptions): string {
  const l = labelsFor(opts.locale ?? 'zh');
  const redact = opts.redact ?? ((t: string) => t);
  const e = (v: unknown, max = MAX_TEXT) => esc(localiseCut(excerpt(String(v ?? ''), max, redact), l.page.cut));
  const tz = opts.timezone;
  const name = entries[0]?.result.name ?? serviceId;
  const p = l.page;
  const excerptBlock = (label: string, text: string | undefined) => (text ? `<details><summary>${e(label)}</summary><pre>${e(text, MAX_EXCERPT)}</pre></details>` : '');

  const callRows = (calls: CallResult[]) =>
    calls
      .map((c) => {
        const failures = c.failures.length
          ? `<ul>${c.failures.map((f) => `<li><code>${e(f.check)}</code>: ${p.expectation(e(f.expected), e(f.actual))}</li>`).join('')}</ul>`
          : '';
        return `<tr class="${c.ok ? 'ok' : 'fail'}"><td class="name">${e(c.name)}</td><td><code>${e(c.kind)}</code></td><td>${e(c.status ?? '–')}</td><td>${e(c.durationSeconds.toFixed(3))} s</td>
<td>${e(c.ok ? p.callOk : p.callFailed)}</td><td class="long"><div>${e(c.reason)}${failures}${excerptBlock(p.request, c.requestExcerpt)}${excerptBlock(p.response, c.responseExcerpt)}</div></td></tr>`;
      })
      .join('\n');
  const authRows = (checks: AuthCheckResult[]) =>
    checks
      .map(
        (a) => `<tr class="${a.outcome === 'accepted' ? 'fail' : a.outcome === 'rejected' ? 'ok' : 'other'}"><td class="name">${e(a.name)}</td><td>${e(p.outcomes[a.outcome] ?? a.outcome)}</td><td>${e(a.status ?? '–')}</td><td>${e(a.durationSeconds.toFixed(3))} s</td><td class="long"><div>${e(a.reason)}${excerptBlock(p.response, a.responseExcerpt)}</div></td></tr>`,
      )
      .join('\n');

  const sections = entries.map(({ roundId, result: s }) => {
    const reading = (r: ServiceResult['before']) => readingCell(r, l.queryFailed, 'html', true);
    const cls = verdictClass(s.verdict);
    return `<section class="entry" data-verdict="${e(s.verdict)}">
<h2>${e(dateTime(tz, s.finishedAt))} · <span class="${cls}">${e(l.verdicts[s.verdict])} <code>${e(s.verdict)}</code></span></h2>
<p class="reason">${e(s.reason)}</p>
<table><tbody>
<tr><th>${e(l.colBefore)}</th><td>${e(reading(s.before))}</td><th>${e(l.colAfter)}</th><td>${e(reading(s.after))}</td></tr>
<tr><th>${e(p.delta)}</th><td>${e(s.delta ?? '–')}</td><th>${e(p.expected)}</th><td>${e(s.expectedDelta)} (<code>${e(s.meteringMode)}</code>)</td></tr>
<tr><th>${e(l.colMetering)}</th><td>${e(meteringCell(s, l))}</td><th>${e(l.colCall)}</th><td>${e(yesNo(s.verdict === 'maintenance' ? null : s.callOk, l, 'html'))}</td></tr>
<tr><th>${e(p.settle)}</th><td>${e(s.settleSeconds === null ? '–' : `${s.settleSeconds.toFixed(2)} s`)}</td><th>${e(p.authOk)}</th><td>${e(yesNo(s.authOk, l, 'html'))}</td></tr>
${s.unexplained && s.unexplained.units > 0 ? `<tr class="${s.unexplained.kind === 'late_charge' ? 'other' : 'fail'}"><th>${e(l.colUnexplained)}</th><td>${e(s.unexplained.units)} (${e(s.unexplained.kind === 'late_charge' ? l.lateCharge : l.unexplainedKind)})</td><td colspan="2" class="long"><div>${e(s.unexplained.reason)}</div></td></tr>\n` : ''}</tbody></table>
<table class="calls"><thead><tr>${[p.colCall, p.colKind, p.colStatus, p.colDuration, p.colResult, p.colCallDetails].map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>
${callRows(s.calls)}
</tbody></table>
${s.authChecks.length ? `<table class="auth"><thead><tr>${[p.colAuthCheck, p.colOutcome, p.colStatus, p.colDuration, p.colReason].map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>\n${authRows(s.authChecks)}\n</tbody></table>` : ''}
<p class="muted">${e(p.round)} <code>${e(roundId)}</code>${s.traceId ? ` · ${e(l.trace)} <code class="trace-id">${e(s.traceId)}</code>` : ''}</p>
</section>`;
  });
  const body = `<nav><a href="/">${e(l.page.backToStatus)}</a><a href="${esc(opts.telemetryPath ?? '/metrics')}">${esc(opts.telemetryPath ?? '/metrics')}</a><a href="/api/rounds/latest">/api/rounds/latest</a></nav>
<h1>${e(name, 200)} <small>${e(serviceId, 200)}</small></h1>
<p class="muted">${e(l.timezoneNote(tz))} ${e(l.page.lastVerdicts(entries.length))}</p>
${sections.join('\n') || `<p>${e(l.page.noVerdicts)}</p>`}`;
  return layout(`${excerpt(name, 100, redact)} · patrol_exporter`, body, opts.locale === 'en' ? 'en' : 'zh-CN');
}
