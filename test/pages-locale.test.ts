// One locale per page: the status and details pages speak digest.locale for every fixed word. The
// test takes the words a person reads (tags, links, identifiers in <code> and the fixtures' own data
// removed) and looks for the other language in them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { servicePage } from '../src/web/details.js';
import { statusPage } from '../src/web/status.js';
import type { Locale } from '../src/present/labels.js';
import type { RoundResult } from '../src/types.js';
import { call, round } from './helpers/rounds.js';

const NAMES = ['文字识别', '自然语言处理', '语音合成', '语音听写'];

/** A fixed instant, so the rounds and the page's day never straddle a midnight. */
const NOW = Date.parse('2026-03-02T14:30:00+08:00');

function rounds(now = NOW): RoundResult[] {
  const last = round(now - 60_000, [
    { id: 'ocr', name: NAMES[0], before: 101, reason: 'DATA' },
    { id: 'nlp', name: NAMES[1], verdict: 'metering_mismatch', before: 7, reason: 'DATA' },
    { id: 'tts', name: NAMES[2], verdict: 'call_failed', reason: 'DATA', calls: [call('c1', 1.2, false, { reason: 'DATA', failures: [{ check: 'status', expected: 'DATA', actual: 'DATA' }], requestExcerpt: 'DATA', responseExcerpt: 'DATA'.repeat(1000) })] },
    { id: 'iat', name: NAMES[3], verdict: 'auth_failed', reason: 'DATA' },
    { id: 'cq', name: NAMES[0], verdict: 'count_query_failed', reason: 'DATA' },
    { id: 'ind', name: NAMES[1], verdict: 'indeterminate', reason: 'DATA', unexplained: { units: 2 } },
  ]);
  last.aborted = true;
  // Names of calls and checks come from the configuration: data.
  for (const s of last.services) {
    s.authChecks = s.authChecks.map((a) => ({ ...a, name: 'DATA', reason: 'DATA', responseExcerpt: 'DATA' }));
    s.calls = s.calls.map((c) => ({ ...c, name: 'DATA' }));
    if (s.after && !s.after.ok) s.after = { ...s.after, reason: 'DATA' };
  }
  last.services.find((s) => s.serviceId === 'ind')!.unexplained!.reason = 'DATA';
  return [last];
}

/** What a person reads, less what is data: tags, <code> identifiers, the nav's URLs, numbers, names, times. */
function words(html: string): string {
  return html
    .replace(/<(style|title|nav|code|small)[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[a-z#0-9]+;/g, ' ')
    .replace(/DATA/g, ' ')
    .replace(/patrol_exporter|Asia\/Shanghai|p50|p95|\b\d+(\.\d+)?\s*s\b/g, ' ')
    .replace(new RegExp(NAMES.join('|'), 'g'), ' ');
}

function pages(locale: Locale): { name: string; html: string }[] {
  const r = rounds();
  const opts = { timezone: 'Asia/Shanghai', locale, now: NOW };
  const out = [
    { name: 'status', html: statusPage(r[0], { done: 1, total: 3 }, opts) },
    { name: 'status, no round', html: statusPage(null, null, opts) },
    { name: 'details, none', html: servicePage('DATA', [], opts) },
  ];
  for (const s of r[0].services) out.push({ name: `details ${s.serviceId}`, html: servicePage(s.serviceId, [{ roundId: r[0].id, roundStartedAt: r[0].startedAt, result: s }], opts) });
  return out;
}

test('a zh page has no English fixed text', () => {
  for (const { name, html } of pages('zh')) {
    const english = words(html).match(/[A-Za-z]{2,}(?:\s+[A-Za-z]{2,})*/g);
    assert.equal(english, null, `${name}: ${english?.join(' | ')}`);
  }
});

test('an en page has no Chinese fixed text', () => {
  for (const { name, html } of pages('en')) {
    const chinese = words(html).match(/[\u3000-\u9fff\uff00-\uffef]+/g);
    assert.equal(chinese, null, `${name}: ${chinese?.join(' | ')}`);
  }
});

test('the words that used to be English on a Chinese page are now Chinese', () => {
  const [status, , none, ...details] = pages('zh');
  for (const w of ['结果', '原因', '正常轮次', '最近结果（旧 → 新）', '一轮巡检正在进行：已完成 1/3 个服务。', '已中断']) assert.ok(status.html.includes(w), w);
  assert.ok(none.html.includes('此服务没有记录。'));
  const tts = details.find((d) => d.name === 'details tts')!.html;
  for (const w of ['调用', '状态码', '耗时', '鉴权检查', '预期 DATA，实际 <b>DATA</b>', '<summary>响应</summary>', '← 巡检状态', '个字符未显示']) assert.ok(tts.includes(w), w);
});
