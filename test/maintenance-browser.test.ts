// A service in a maintenance window as a person sees the status page and its details page: opened
// in headless Chromium (playwright-core driving Debian's chromium) with JavaScript off. The window's
// reason is free text from the API: it must show as text, redacted, never as markup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { maintenanceResult } from '../src/engine/maintenance.js';
import type { ServiceConfig } from '../src/config/schema.js';
import { requireTool } from './helpers/tools.js';
import { round } from './helpers/rounds.js';
import { HOSTILE, PAGE_NOW, SECRET, startWeb } from './helpers/web.js';

const OUT = path.resolve('test-output');

test('Chromium, JavaScript off: a service in maintenance is shown as such, not red, its reason as text', async (t) => {
  const executable = requireTool(t, 'chromium');
  if (!executable) return;
  mkdirSync(OUT, { recursive: true });
  const now = PAGE_NOW; // the page's clock (ServerDeps.now), which also decides which windows are open
  const before = round(now - 120_000, [{ id: 'ocr', name: '文字识别' }, { id: 'nlp', name: '自然语言处理', verdict: 'call_failed' }]);
  const during = round(now - 60_000, [{ id: 'ocr', name: '文字识别' }]);
  const service = { id: 'nlp', name: '自然语言处理', app_id: 'app0001', metering: { mode: 'exact' } } as unknown as ServiceConfig;
  const window = { id: 'w1', source: 'api' as const, services: ['nlp'], start: now - 90_000, end: now + 3_600_000, reason: '' };
  during.services.push(maintenanceResult(service, window, now - 60_000, () => `maintenance window until later: ${HOSTILE} ${SECRET}`));
  const web = await startWeb('', {}, [before, during]);
  t.after(() => web.close());
  web.exporter.maintenance.add({ services: ['nlp'], start: now - 90_000, end: now + 3_600_000, reason: `db upgrade ${HOSTILE} ${SECRET}` }, now);

  const browser = await chromium.launch({ executablePath: executable, timeout: 120_000, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  let dialogs = 0;
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });

  assert.equal((await page.goto(`${web.url}/`))?.status(), 200);
  const row = page.locator('table.round tr[data-service="nlp"]');
  assert.equal((await row.locator('td.verdict').innerText()).replace(/\s+/g, ' ').trim(), '维护中 maintenance');
  // Grey like other neither-ok-nor-failed rows, not red.
  const background = await row.locator('td').first().evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(background, 'rgb(248, 208, 208)');
  // The summary line counts it apart: one run and ok, none failed, one in maintenance.
  assert.equal(await page.locator('p.summary').innerText(), '执行 1，成功 1，失败 0，维护中 1');
  // No call was made: the call column is empty, not "成功".
  assert.equal((await row.locator('td').nth(4).innerText()).trim(), '–');
  const reason = await row.locator('td.long').innerText();
  assert.ok(reason.includes(`<script>alert('x')</script>`), `the reason is text: ${reason}`);
  assert.ok(!reason.includes(SECRET), 'and redacted');
  assert.equal(await page.locator('table.round img').count(), 0);
  // The open window is listed, marked as open now, its reason as text.
  const listed = page.locator('table.maintenance tr[data-active="true"]');
  assert.equal(await listed.count(), 1);
  const cells = (await listed.locator('td').allInnerTexts()).map((c) => c.trim());
  assert.equal(cells[0], 'nlp');
  assert.match(cells[1], /\(进行中\)$/);
  assert.ok(cells[3].startsWith(`db upgrade <script>alert('x')</script>`) && cells[3].endsWith('<redacted>'), cells[3]);
  assert.equal(await page.locator('table.maintenance img').count(), 0);
  await page.screenshot({ path: path.join(OUT, 'status-maintenance.png'), fullPage: true });

  assert.equal((await page.goto(`${web.url}/services/nlp`))?.status(), 200);
  const entry = page.locator('section.entry[data-verdict="maintenance"]');
  assert.equal(await entry.count(), 1);
  assert.match(await entry.locator('h2').innerText(), /维护中 maintenance/);
  // No call was made: the call cell is empty there too.
  assert.equal((await entry.locator('tr', { hasText: '调用是否成功' }).locator('td').nth(1).innerText()).trim(), '–');
  assert.equal(await page.locator('section.entry[data-verdict="call_failed"]').count(), 1, 'the failure before the window is still listed');
  assert.equal(dialogs, 0, 'no script ran');
});
