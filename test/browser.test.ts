// The status page as a person sees it: opened in headless Chromium (playwright-core driving
// Debian's chromium), with JavaScript off, each service's verdict read from the rendered page.
// Screenshots go to test-output/ (gitignored) for people to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { digestMessage } from '../src/digest/mailer.js';
import { requireTool } from './helpers/tools.js';
import { DAY, dayOfHistory } from './helpers/rounds.js';
import { startWeb } from './helpers/web.js';

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
