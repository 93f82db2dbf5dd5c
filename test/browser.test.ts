// The status page as a person sees it: opened in headless Chromium (playwright-core driving
// Debian's chromium), with JavaScript off, each service's verdict read from the rendered page.
// Screenshots go to test-output/ (gitignored) for people to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { digestMessage } from '../src/digest/mailer.js';
import { requireTool } from './helpers/tools.js';
import { DAY, call, dayOfHistory, round } from './helpers/rounds.js';
import type { RoundResult } from '../src/types.js';
import { dayIn } from '../src/util/time.js';
import { PAGE_NOW, startWeb } from './helpers/web.js';

const OUT = path.resolve('test-output');

async function launch(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    timeout: 120_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

test('the status page in headless Chromium, JavaScript off: every verdict shown, red rows, a screenshot', async (t) => {
  const executable = requireTool(t, 'chromium');
  if (!executable) return;
  mkdirSync(OUT, { recursive: true });
  const web = await startWeb();
  t.after(() => web.close());
  const browser = await launch(executable);
  t.after(() => browser.close());
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(web.url)) foreign.push(r.url());
  });
  let dialogs = 0;
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });

  const res = await page.goto(`${web.url}/`);
  assert.equal(res?.status(), 200);
  const verdicts: Record<string, string> = {};
  for (const id of ['ocr', 'nlp', 'evil']) verdicts[id] = (await page.locator(`tr[data-service="${id}"] td.verdict`).first().innerText()).replace(/\s+/g, ' ').trim();
  assert.deepEqual(verdicts, { ocr: '正常 ok', nlp: '扣量不符 metering_mismatch', evil: '调用失败 call_failed' });
  // Failing rows are red as rendered, not only as a class.
  const background = (id: string) => page.locator(`table.round tr[data-service="${id}"] td`).first().evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(await background('nlp'), 'rgb(248, 208, 208)');
  assert.equal(await background('evil'), 'rgb(248, 208, 208)');
  assert.notEqual(await background('ocr'), 'rgb(248, 208, 208)');
  // The hostile name is text on the page, not markup.
  assert.match(await page.locator('tr[data-service="evil"] td').first().innerText(), /<script>alert\('x'\)<\/script>/);
  assert.equal(await page.locator('table.round img').count(), 0);
  assert.equal(await page.locator('table.day svg').count(), 3, 'a strip of recent verdicts per service');
  assert.match(await page.locator('p.summary').innerText(), /执行 3，成功 1，失败 2/);
  await page.screenshot({ path: path.join(OUT, 'status.png'), fullPage: true });

  // The details page, reached by its link.
  await page.locator('table.round a[href="/services/nlp"]').click();
  await page.waitForURL(`${web.url}/services/nlp`);
  assert.match(await page.locator('section.entry h2').first().innerText(), /扣量不符/);
  await page.screenshot({ path: path.join(OUT, 'service.png'), fullPage: true });
  await page.goto(`${web.url}/services/evil`);
  assert.match(await page.locator('section.entry').first().innerText(), /502/);
  await page.screenshot({ path: path.join(OUT, 'service-evil.png'), fullPage: false });

  assert.deepEqual(foreign, [], 'no request leaves the exporter');
  assert.equal(dialogs, 0, 'no script ran');
});

test('the digest HTML as a mail client would show it: a screenshot', async (t) => {
  const executable = requireTool(t, 'chromium');
  if (!executable) return;
  mkdirSync(OUT, { recursive: true });
  const browser = await launch(executable);
  t.after(() => browser.close());
  const page = await browser.newPage({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const m = digestMessage(dayOfHistory(), DAY, { timezone: 'Asia/Shanghai', locale: 'zh', subjectTemplate: '开放平台服务调用巡检报告 {{date}}', redact: (s) => s });
  await page.setContent(m.html);
  assert.equal(await page.locator('table.round tr.fail').count(), 2);
  assert.equal(await page.locator('table.round tr.fail td').first().evaluate((el) => getComputedStyle(el.parentElement!).backgroundColor), 'rgb(248, 208, 208)');
  await page.screenshot({ path: path.join(OUT, 'digest.png'), fullPage: true });
});

// A reason no page or email may widen: a 2,000-character base64 frame without a space, as an auth
// check reports the first frame a platform sent back.
const FRAME = Buffer.alloc(1500, 'RIFF$\u00e2\u0000\u0000WAVEfmt ').toString('base64').slice(0, 2000);
const LONG_REASON = `auth check wrong_key: bad credential accepted, first frame ${FRAME}`;

/** The page's day's rounds, the last with the long reason in the verdict, a call and an auth check. */
function roundsWithLongReason(now = PAGE_NOW): RoundResult[] {
  const r = round(now - 60_000, [
      { id: 'ocr', name: '文字识别', before: 101 },
      {
        id: 'iat',
        name: '语音听写（流式版）',
        verdict: 'auth_failed',
        reason: LONG_REASON,
        calls: [call('dictate', 0.8, false, { kind: 'websocket', status: 101, reason: `frame ${FRAME}`, failures: [{ check: 'first_frame', expected: 'code 0', actual: FRAME }] })],
      },
      { id: 'nlp', name: '自然语言处理', verdict: 'metering_mismatch', before: 7 },
  ]);
  r.services[1].authChecks = [{ name: 'wrong_key', outcome: 'accepted', durationSeconds: 0.3, status: 101, reason: LONG_REASON }];
  return [r];
}

/** The document scrolls sideways when its content is wider than the window. */
async function sideways(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  return page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
}

/** The narrowest header cell of a table: a squeezed column shows one character per line. */
async function narrowestHeader(page: Page, table: string): Promise<{ text: string; width: number }> {
  const widths = await page.locator(`${table} th`).evaluateAll((ths) => ths.map((th) => ({ text: (th as HTMLElement).innerText, width: th.getBoundingClientRect().width })));
  assert.ok(widths.length > 0, `${table} has headers`);
  return widths.reduce((a, b) => (b.width < a.width ? b : a));
}

for (const locale of ['zh', 'en'] as const) {
  test(`a 2,000-character unbroken reason, ${locale}: the status page, the details page and the email fit a 1,280-pixel window`, async (t) => {
    const executable = requireTool(t, 'chromium');
    if (!executable) return;
    mkdirSync(OUT, { recursive: true });
    const web = await startWeb(`digest:\n  locale: ${locale}\n`, {}, roundsWithLongReason());
    t.after(() => web.close());
    const browser = await launch(executable);
    t.after(() => browser.close());
    const page = await browser.newPage({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);

    await page.goto(`${web.url}/`);
    await page.screenshot({ path: path.join(OUT, `long-reason-status-${locale}.png`), fullPage: true });
    const status = await sideways(page);
    assert.ok(status.scrollWidth <= status.clientWidth, `status page scrolls sideways: ${JSON.stringify(status)}`);
    // The reason is there (wrapped, not dropped), and the name and count columns stay readable.
    assert.match((await page.locator('tr[data-service="iat"] td.long').innerText()).replace(/\s+/g, ''), new RegExp(FRAME.slice(0, 100).replace(/[+/]/g, '\\$&')));
    const head = await narrowestHeader(page, 'table.round');
    assert.ok(head.width >= 48, `a header squeezed to ${head.width}px: ${head.text}`);
    const nameWidth = await page.locator('table.round tr[data-service="iat"] td.name').evaluate((td) => td.getBoundingClientRect().width);
    assert.ok(nameWidth >= 100, `the name column is ${nameWidth}px wide`);

    await page.goto(`${web.url}/services/iat`);
    await page.screenshot({ path: path.join(OUT, `long-reason-details-${locale}.png`), fullPage: true });
    const details = await sideways(page);
    assert.ok(details.scrollWidth <= details.clientWidth, `details page scrolls sideways: ${JSON.stringify(details)}`);
    for (const table of ['table.calls', 'table.auth']) {
      const h = await narrowestHeader(page, table);
      assert.ok(h.width >= 40, `${table}: a header squeezed to ${h.width}px: ${h.text}`);
    }

    const day = dayIn('Asia/Shanghai', PAGE_NOW);
    const m = digestMessage(roundsWithLongReason(), day, { timezone: 'Asia/Shanghai', locale, subjectTemplate: 'patrol {{date}}', redact: (s) => s });
    assert.ok(!/<svg/i.test(m.html), 'no SVG in the email');
    await page.setContent(m.html);
    await page.screenshot({ path: path.join(OUT, `long-reason-email-${locale}.png`), fullPage: true });
    const email = await sideways(page);
    assert.ok(email.scrollWidth <= email.clientWidth, `email scrolls sideways: ${JSON.stringify(email)}`);
    assert.ok((await narrowestHeader(page, 'table.day')).width >= 40);
    // The reason keeps its start and its end.
    const reasons = (await page.locator('ul li').allInnerTexts()).join('\n');
    assert.ok(reasons.includes(FRAME.slice(0, 40)) && reasons.includes(FRAME.slice(-16)), reasons);
  });
}

test('the email with SVG switched off: the hourly strip is still there, as coloured table cells', async (t) => {
  const executable = requireTool(t, 'chromium');
  if (!executable) return;
  mkdirSync(OUT, { recursive: true });
  // Chromium cannot switch SVG off; a client that drops it is what Gmail does: remove every <svg>.
  const browser = await launch(executable);
  t.after(() => browser.close());
  const page = await browser.newPage({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const m = digestMessage(dayOfHistory(), DAY, { timezone: 'Asia/Shanghai', locale: 'zh', subjectTemplate: '巡检 {{date}}', redact: (s) => s });
  await page.setContent(m.html.replace(/<svg[\s\S]*?<\/svg>/gi, ''));
  const marks = await page.locator('table.day table.strip td[data-verdict]').evaluateAll((tds) => tds.map((td) => [td.getAttribute('data-verdict'), getComputedStyle(td).backgroundColor, Math.round(td.getBoundingClientRect().width)]));
  assert.equal(marks.length, 9, 'three hours with rounds for each of three services');
  const colours: Record<string, string> = { ok: 'rgb(46, 125, 50)', metering_mismatch: 'rgb(239, 108, 0)', call_failed: 'rgb(198, 40, 40)', auth_failed: 'rgb(74, 0, 0)', count_query_failed: 'rgb(106, 27, 154)', indeterminate: 'rgb(158, 158, 158)' };
  for (const [verdict, colour, width] of marks) {
    assert.equal(colour, colours[verdict!], `${verdict} is drawn in its colour`);
    assert.ok((width as number) >= 5, `a mark ${width}px wide`);
  }
  await page.locator('table.day').screenshot({ path: path.join(OUT, 'digest-strip.png') });
});
