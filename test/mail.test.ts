// Delivery of the digest to a real SMTP server (smtp-server on 127.0.0.1, port 0), read back with
// mailparser: both parts, the subject, the table, the day. And what happens when SMTP is down:
// bounded retries, the digest kept pending in SQLite, delivered later (also after a restart), the
// failure counter moved. Plus the CLI: `patrol digest --out/--send`, `patrol run-once --mail`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { simpleParser, type ParsedMail } from 'mailparser';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '../src/config/load.js';
import { Outbox } from '../src/digest/outbox.js';
import { DigestJobs } from '../src/digest/scheduler.js';
import { Exporter } from '../src/exporter.js';
import { createLogger } from '../src/log.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ocrConfig, type ConfigKnobs } from './helpers/harness.js';
import { runPatrol } from './helpers/process.js';
import { DAY, dayOfHistory, round, shanghai, tableRows } from './helpers/rounds.js';
import { assertNoSecrets } from './helpers/secrets.js';

const SMTP_PASSWORD = 'smtp-pa55word-never-shown';
const SMTP_USER = 'patrol-mailer';

interface Smtp {
  port: number;
  received: ParsedMail[];
  raw: string[];
  connections: () => number;
  close: () => Promise<void>;
}

/** A real SMTP server; `accept()` false answers 421 at connect (the server is "down"). */
async function startSmtp(accept: () => boolean = () => true): Promise<Smtp> {
  const received: ParsedMail[] = [];
  const raw: string[] = [];
  let connections = 0;
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_session, callback) {
      connections++;
      if (accept()) return callback();
      const err = Object.assign(new Error('service not available, try later'), { responseCode: 421 });
      callback(err);
    },
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) callback(null, { user: auth.username });
      else callback(new Error('invalid credentials'));
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const buf = Buffer.concat(chunks);
        raw.push(buf.toString('utf8'));
        simpleParser(buf).then(
          (parsed) => {
            received.push(parsed);
            callback();
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, raw, connections: () => connections, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A port nothing listens on (connection refused): bound on port 0, then closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Poll (bounded in count and time) until cond() holds. */
async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (let i = 0; i < 3000 && Date.now() < end; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * A config against SMTP on `port`. The fixture history is from 2024: the retention is long enough
 * that the pruning at start keeps it. `more.digest`/`more.storage`: more keys of those sections.
 */
function configText(port: number, more: { digest?: string; storage?: string; ocr?: ConfigKnobs } = {}): string {
  return `${ocrConfig(more.ocr)}
smtp:
  host: 127.0.0.1
  port: ${port}
  tls: none
  username: ${SMTP_USER}
  password: "\${SMTP_PASSWORD}"
  from: "patrol <patrol@example.com>"
  to: [ops@example.com, oncall@example.com]
  cc: boss@example.com
  timeout: 2s
digest:
  retry: { attempts: 3, backoff: 50ms, max_backoff: 100ms }
${more.digest ?? ''}storage:
  retention: 36500d
${more.storage ?? ''}`;
}

/** A logger that keeps its lines, to check nothing secret was logged. */
function capturingLogger(redactor: Redactor): { logger: pino.Logger; lines: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger(redactor, 'debug', sink), lines: () => text };
}

function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function setup(text: string, store: SqliteStore) {
  const redactor = new Redactor();
  const loaded = parseConfig(text, 'test.yml', { env: { SMTP_PASSWORD } });
  for (const s of loaded.secrets) redactor.add(s);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const { logger, lines } = capturingLogger(redactor);
  const jobs = new DigestJobs({ store, metrics, logger, redactor });
  return { loaded, metrics, jobs, lines, redactor };
}

test('the digest reaches a real SMTP server: subject, both parts, the five columns, red rows exactly for the failures, the day', async (t) => {
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  for (const r of dayOfHistory()) store.save(r);
  const { loaded, metrics, jobs, lines } = setup(configText(smtp.port), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start(loaded.config);
  const sent = await jobs.sendDigest(DAY);
  assert.equal(sent.status, 'sent');
  assert.equal(smtp.received.length, 1);
  const mail = smtp.received[0];
  assert.equal(mail.subject, `开放平台服务调用巡检报告 ${DAY}`);
  assert.equal(mail.from?.text, '"patrol" <patrol@example.com>');
  assert.deepEqual((Array.isArray(mail.to) ? mail.to : [mail.to]).flatMap((a) => a!.value.map((v) => v.address)), ['ops@example.com', 'oncall@example.com']);
  assert.deepEqual((Array.isArray(mail.cc) ? mail.cc : [mail.cc]).flatMap((a) => a!.value.map((v) => v.address)), ['boss@example.com']);
  assert.ok(typeof mail.html === 'string' && mail.html.length > 0, 'an HTML part');
  assert.ok(mail.text && mail.text.length > 0, 'a text part');
  const html = mail.html as string;
  assert.match(html, /执行 3，成功 1，失败 2/);
  assert.match(html, /<th[^>]*>服务名称<\/th><th[^>]*>今日调用量\(调用前\)<\/th><th[^>]*>今日调用量\(调用后\)<\/th><th[^>]*>扣量是否成功<\/th><th[^>]*>调用是否成功<\/th>/);
  assert.deepEqual(
    tableRows(html, 'round').map((r) => [r.cls, ...r.cells]),
    [
      ['ok', '文字识别', '12', '13', '成功', '成功'],
      ['fail', '自然语言处理', '24', '24', '成功', '失败'],
      ['fail', '语音合成', '40', '40', '失败', '成功'],
    ],
  );
  assert.deepEqual(
    tableRows(html, 'day').map((r) => r.cells.slice(0, 7)),
    [
      ['文字识别', '3', '100.0%', '0', '0', '0', '0'],
      ['自然语言处理', '3', '33.3%', '1', '0', '0', '1'],
      ['语音合成', '3', '0.0%', '1', '1', '1', '0'],
    ],
  );
  assert.deepEqual(tableRows(html, 'mismatches').map((r) => r.cells.slice(0, 4)), [['10:00:01', '自然语言处理', '多扣', '1'], ['16:00:01', '语音合成', '少扣', '1']]);
  assert.match(mail.text!, /^! 自然语言处理 +24 +24 +成功 +失败$/m);
  assert.match(mail.text!, /巡检 3 轮，其中 3 轮有失败/);
  // Delivered, counted, and the SMTP password nowhere: not in the mail, not in the logs.
  assert.ok((metricValue(await metrics.registry.metrics(), 'patrol_digest_last_success_timestamp_seconds') ?? 0) > 0);
  assert.equal(metricValue(await metrics.registry.metrics(), 'patrol_digest_failures_total'), 0);
  assertNoSecrets(smtp.raw[0], 'the mail as sent', [SMTP_PASSWORD]);
  assertNoSecrets(html, 'the digest HTML', [SMTP_PASSWORD]);
  assertNoSecrets(mail.text!, 'the digest text', [SMTP_PASSWORD]);
  assertNoSecrets(lines(), 'the log', [SMTP_PASSWORD]);
  assert.match(lines(), /"msg":"email delivered"/);
});

test('the digest the schedule builds is redacted: a secret in the stored history is not mailed', async (t) => {
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  // A reason and a name stored before their text was known to be secret (the config changed since).
  store.save(
    round(shanghai(DAY, '09:00:00'), [
      { id: 'ocr', name: `ocr ${SMTP_PASSWORD}`, verdict: 'metering_mismatch', reason: `metering over by 1; upstream said ${SMTP_PASSWORD}` },
    ]),
  );
  const { loaded, jobs, lines } = setup(configText(smtp.port), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start(loaded.config);
  const sent = await jobs.sendDigest(DAY);
  assert.equal(sent.status, 'sent');
  const mail = smtp.received[0];
  assert.match(mail.html as string, /ocr &lt;redacted&gt;/, 'the name is there, redacted');
  assertNoSecrets(smtp.raw[0], 'the mail as sent', [SMTP_PASSWORD]);
  assertNoSecrets(mail.html as string, 'the digest HTML', [SMTP_PASSWORD]);
  assertNoSecrets(mail.text ?? '', 'the digest text', [SMTP_PASSWORD]);
  assertNoSecrets(lines(), 'the log', [SMTP_PASSWORD]);
});

test('the maintenance schedule retries a pending digest by itself', async (t) => {
  let up = false;
  const smtp = await startSmtp(() => up);
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  for (const r of dayOfHistory()) store.save(r);
  // Maintenance every second; nothing else delivers once the first run has failed.
  const { loaded, jobs } = setup(configText(smtp.port, { storage: '  maintenance_schedule: "* * * * * *"\n' }), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start(loaded.config);
  const first = await jobs.sendDigest(DAY);
  assert.equal(first.status, 'pending');
  up = true;
  await until(() => smtp.received.length === 1 && new Outbox(store.db).pending().length === 0, 'a maintenance run delivering the digest', 20_000);
  assert.equal(smtp.received[0].subject, `开放平台服务调用巡检报告 ${DAY}`);
  assert.equal(new Outbox(store.db).messagesFor('digest', DAY)[0].status, 'sent');
});

test('SMTP down for a moment: the retries deliver it, nothing counted as failed', async (t) => {
  let refused = 0;
  const smtp = await startSmtp(() => refused++ >= 2); // the first two connections are refused
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  for (const r of dayOfHistory()) store.save(r);
  const { loaded, metrics, jobs } = setup(configText(smtp.port), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start(loaded.config);
  const sent = await jobs.sendDigest(DAY);
  assert.equal(sent.status, 'sent');
  assert.equal(sent.attempts, 1, 'one delivery run');
  assert.equal(smtp.connections(), 3, 'three connections in it');
  assert.equal(smtp.received.length, 1);
  assert.equal(metricValue(await metrics.registry.metrics(), 'patrol_digest_failures_total'), 0);
});

test('SMTP down longer than the retries: counted as failed, kept pending, delivered when the server is back', async (t) => {
  let up = false;
  const smtp = await startSmtp(() => up);
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  for (const r of dayOfHistory()) store.save(r);
  const { loaded, metrics, jobs, lines } = setup(configText(smtp.port), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start(loaded.config);
  const first = await jobs.sendDigest(DAY);
  assert.equal(first.status, 'pending');
  assert.equal(first.attempts, 1, 'one delivery run recorded');
  assert.match(first.lastError ?? '', /421/);
  assert.equal(smtp.connections(), 3, 'digest.retry.attempts connections');
  assert.equal(metricValue(await metrics.registry.metrics(), 'patrol_digest_failures_total'), 1);
  assert.match(lines(), /"msg":"email not delivered; it stays pending/);

  up = true;
  // What the maintenance schedule does.
  assert.deepEqual(await jobs.flush(), { sent: 1, failed: 0 });
  assert.equal(smtp.received.length, 1);
  assert.equal(smtp.received[0].subject, `开放平台服务调用巡检报告 ${DAY}`);
  assert.deepEqual(new Outbox(store.db).pending(), []);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'patrol_digest_failures_total'), 1);
  assert.ok((metricValue(text, 'patrol_digest_last_success_timestamp_seconds') ?? 0) > 0);
});

test('patrol_digest_failures_total counts digests, not attempts or maintenance retries; the outbox gauge shows what waits', async (t) => {
  let up = false;
  const smtp = await startSmtp(() => up);
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  for (const r of dayOfHistory()) store.save(r);
  const { loaded, metrics, jobs } = setup(configText(smtp.port), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  const figures = async () => {
    const text = await metrics.registry.metrics();
    return [metricValue(text, 'patrol_digest_failures_total'), metricValue(text, 'patrol_digest_outbox_messages')];
  };
  jobs.start(loaded.config);
  await jobs.flush();
  assert.deepEqual(await figures(), [0, 0]);
  await jobs.sendDigest(DAY);
  assert.equal(smtp.connections(), 3, 'three attempts');
  assert.deepEqual(await figures(), [1, 1]);
  // Four maintenance runs retry it (three attempts each): still one digest not delivered.
  for (let i = 0; i < 4; i++) assert.deepEqual(await jobs.flush(), { sent: 0, failed: 1 });
  assert.equal(smtp.connections(), 15);
  assert.deepEqual(await figures(), [1, 1]);
  // Another day's digest is another failure.
  await jobs.sendDigest('2024-05-02');
  assert.deepEqual(await figures(), [2, 2]);
  up = true;
  assert.deepEqual(await jobs.flush(), { sent: 2, failed: 0 });
  assert.deepEqual(await figures(), [2, 0]);
  assert.equal(smtp.received.length, 2);
});

test('SMTP down, the exporter restarts: the pending digest in SQLite is sent on the next start', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-mail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'patrol.db');
  const seed = new SqliteStore(file);
  for (const r of dayOfHistory()) seed.save(r);
  seed.close();

  // First life: nothing listens on the SMTP port.
  const downPort = await closedPort();
  {
    const store = new SqliteStore(file);
    const text = configText(downPort);
    const { metrics, jobs, redactor, lines } = setup(text, store);
    const exporter = new Exporter({ configText: () => text, loadOptions: { env: { SMTP_PASSWORD } }, logger: pino({ level: 'silent' }), metrics, store, redactor, jobs });
    await exporter.start(true);
    const message = await jobs.sendDigest(DAY);
    assert.equal(message.status, 'pending');
    assert.match(message.lastError ?? '', /ECONNREFUSED/);
    assert.equal(metricValue(await metrics.registry.metrics(), 'patrol_digest_failures_total'), 1);
    assertNoSecrets(lines(), 'the log', [SMTP_PASSWORD]);
    await exporter.stop(); // closes the store
  }

  // Second life: the server is there now. Starting is enough.
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const store = new SqliteStore(file);
  assert.equal(new Outbox(store.db).pending().length, 1, 'the pending digest survived the restart');
  const text = configText(smtp.port);
  const { metrics, jobs, redactor } = setup(text, store);
  const exporter = new Exporter({ configText: () => text, loadOptions: { env: { SMTP_PASSWORD } }, logger: pino({ level: 'silent' }), metrics, store, redactor, jobs });
  await exporter.start(true);
  t.after(() => exporter.stop());
  await until(() => smtp.received.length === 1 && new Outbox(store.db).pending().length === 0, 'the pending digest delivered at start');
  assert.equal(smtp.received[0].subject, `开放平台服务调用巡检报告 ${DAY}`);
  assert.equal(tableRows(smtp.received[0].html as string, 'round').filter((r) => r.cls === 'fail').length, 2);
  assert.deepEqual(new Outbox(store.db).messagesFor('digest', DAY).map((m) => [m.status, m.attempts]), [['sent', 2]]);
  assert.ok((metricValue(await metrics.registry.metrics(), 'patrol_digest_last_success_timestamp_seconds') ?? 0) > 0);
});

test('the cron schedule sends the digest of the configured day once', async (t) => {
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const store = new SqliteStore(':memory:');
  // Every second, reporting the current day (empty history: the mail says there were no rounds).
  const { loaded, jobs, lines } = setup(configText(smtp.port, { digest: '  schedule: "* * * * * *"\n  day: current\n  locale: en\n' }), store);
  t.after(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start(loaded.config);
  await until(() => smtp.received.length >= 1, 'a scheduled digest', 20_000);
  // Two more ticks that found the day's digest already sent: no second mail for the same day.
  const skips = () => lines().split('digest for this day already queued or sent').length - 1;
  await until(() => skips() >= 2, 'two more ticks of the digest schedule', 20_000);
  assert.equal(smtp.received.length, 1);
  const day = jobs.reportDay();
  assert.equal(smtp.received[0].subject, `开放平台服务调用巡检报告 ${day}`);
  assert.match(smtp.received[0].text ?? '', /No rounds were recorded on this day/);
});

test('patrol digest --out writes the HTML from the SQLite history; --send mails it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-cli-digest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const store = new SqliteStore(path.join(dir, 'history.db'));
  for (const r of dayOfHistory()) store.save(r);
  // A name and reason stored before their text was a secret: the command redacts what it reads.
  store.save(round(shanghai(DAY, '09:00:00'), [{ id: 'asr', name: `asr ${SMTP_PASSWORD}`, verdict: 'call_failed', reason: `upstream said ${SMTP_PASSWORD}` }]));
  store.close();
  const file = path.join(dir, 'patrol.yml');
  // A relative storage.path starts in the config file's folder, whatever the working directory.
  writeFileSync(file, configText(smtp.port, { storage: '  path: history.db\n' }));
  const env = { SMTP_PASSWORD };
  const out = path.join(dir, 'digest.html');
  const written = await runPatrol(['digest', `--config.file=${file}`, `--date=${DAY}`, `--out=${out}`], env);
  assert.equal(written.code, 0, written.stderr);
  const html = readFileSync(out, 'utf8');
  assert.equal(tableRows(html, 'round').filter((r) => r.cls === 'fail').length, 2);
  assert.match(html, /asr &lt;redacted&gt;/);
  assertNoSecrets(html, 'digest --out', [SMTP_PASSWORD]);
  assert.equal(smtp.received.length, 0, '--out does not send');

  const sent = await runPatrol(['digest', `--config.file=${file}`, `--date=${DAY}`, '--send'], env);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(smtp.received.length, 1);
  assert.equal(smtp.received[0].subject, `开放平台服务调用巡检报告 ${DAY}`);
  assertNoSecrets(smtp.received[0].html as string, 'digest --send HTML', [SMTP_PASSWORD]);
  assertNoSecrets(smtp.received[0].text ?? '', 'digest --send text', [SMTP_PASSWORD]);

  const bad = await runPatrol(['digest', `--config.file=${file}`, '--date=2024-13-45'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--date: expected YYYY-MM-DD/);
  for (const [i, r] of [written, sent, bad].entries()) assertNoSecrets(`${r.stdout}${r.stderr}`, `digest command ${i} output`, [SMTP_PASSWORD]);
});

test('patrol run-once --mail sends that round\'s table, as the original script did', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-run-once-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const sim = await startSimulator({ lagMs: 50 });
  t.after(() => sim.close());
  sim.setFaults('ocr', { error5xx: true });
  const file = path.join(dir, 'patrol.yml');
  writeFileSync(file, configText(smtp.port, { ocr: { platformUrl: sim.url, settleTimeoutMs: 800 } }));
  const r = await runPatrol(['run-once', `--config.file=${file}`, '--mail'], { SMTP_PASSWORD });
  assert.equal(r.code, 1, `a failing verdict exits 1: ${r.stderr}`);
  assert.equal(smtp.received.length, 1);
  const html = smtp.received[0].html as string;
  const rows = tableRows(html, 'round');
  assert.equal(rows.length, 1);
  assert.equal(rows[0].cls, 'fail');
  assert.deepEqual(rows[0].cells.slice(3), ['成功', '失败']);
  assert.match(html, /执行 1，成功 0，失败 1/);
  assert.ok(!html.includes('class="day"'), 'only the round, no day section');

  // SMTP unreachable: the verdicts are printed, the mail error is said, exit status 2.
  writeFileSync(file, configText(await closedPort(), { ocr: { platformUrl: sim.url, settleTimeoutMs: 800 } }));
  const down = await runPatrol(['run-once', `--config.file=${file}`, '--mail'], { SMTP_PASSWORD });
  assert.equal(down.code, 2);
  assert.match(down.stderr, /mail not delivered after 3 attempt\(s\): .*ECONNREFUSED/);
});
