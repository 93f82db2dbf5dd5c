// run-once's progress line and its log lines on one terminal. A pseudo-terminal is out of reach in
// Node, so the terminal is a real Writable that says it is a TTY and records every byte; a small
// screen model then plays those bytes the way a terminal does (carriage return, erase to the end of
// the line, newline) and the test reads the screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log.js';
import { ProgressLine } from '../src/progress.js';
import { Redactor } from '../src/redact.js';
import { displayWidth } from '../src/util/width.js';
import { ocrConfig, withSim } from './helpers/harness.js';

class FakeTerminal extends Writable {
  readonly isTTY: boolean;
  readonly columns = 60;
  bytes = '';
  constructor(isTTY = true) {
    super({ decodeStrings: false });
    this.isTTY = isTTY;
  }
  override _write(chunk: string | Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.bytes += chunk.toString();
    done();
  }
  /** The screen after the bytes: each row as it reads (no wrapping modelled: the test checks widths). */
  screen(): string[] {
    const rows: string[][] = [[]];
    let col = 0;
    for (let i = 0; i < this.bytes.length; i++) {
      const row = rows[rows.length - 1];
      const c = this.bytes[i];
      if (this.bytes.startsWith('\x1b[K', i)) {
        row.length = col;
        i += 2;
      } else if (c === '\r') col = 0;
      else if (c === '\n') {
        rows.push([]);
        col = 0;
      } else row[col++] = c;
    }
    return rows.map((r) => r.join(''));
  }
}

const json = (row: string) => {
  try {
    return JSON.parse(row) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

test('on a terminal, each log line is on a line of its own and the progress line is below the last', () => {
  const term = new FakeTerminal();
  const progress = new ProgressLine(term);
  assert.equal(progress.active, true);
  const logger = createLogger(new Redactor(['s3cret-key-123456']), 'info', progress.stream(), 'json');

  progress.update('[1/3] ocr: ok');
  logger.warn({ service: 'nlp', key: 's3cret-key-123456' }, 'settle poll slow');
  let screen = term.screen();
  assert.equal(json(screen[0])?.msg, 'settle poll slow', `the log line starts its own line: ${JSON.stringify(screen)}`);
  assert.equal(screen[1], '[1/3] ocr: ok', 'the progress line is drawn again below it');
  assert.ok(!term.bytes.includes('s3cret-key-123456'), 'the logger still redacts');

  progress.update('[2/3] nlp: metering_mismatch');
  logger.info({ service: 'nlp' }, 'round step');
  logger.error({ service: 'tts' }, 'call failed');
  progress.update('[3/3] tts: call_failed');
  screen = term.screen();
  assert.deepEqual(screen.slice(0, 3).map((r) => json(r)?.msg), ['settle poll slow', 'round step', 'call failed'], JSON.stringify(screen));
  assert.equal(screen[3], '[3/3] tts: call_failed');
  for (const row of screen.slice(0, 3)) assert.ok(!row.includes('['), `no progress text inside a log line: ${row}`);

  progress.done();
  screen = term.screen();
  assert.equal(screen[3], '', 'done() leaves a clean line for the table');
  assert.equal(screen.length, 4);
});

test('a progress line wider than the terminal is cut to one row (a wrapped line cannot be cleared)', () => {
  const term = new FakeTerminal();
  const progress = new ProgressLine(term);
  progress.update(`[1/2] ${'语音'.repeat(40)}\x1b[2J: ok`);
  const row = term.screen()[0];
  assert.ok(displayWidth(row) < term.columns, `${displayWidth(row)} columns`);
  assert.ok(row.endsWith('…'));
  assert.ok(!term.bytes.includes('\x1b[2J'), 'a control character in a service id is not sent');
});

test('not a terminal (a pipe, a file, --json): no progress at all, log lines unchanged', () => {
  const pipe = new FakeTerminal(false);
  const progress = new ProgressLine(pipe);
  assert.equal(progress.active, false);
  const logger = createLogger(new Redactor(), 'info', progress.stream(), 'logfmt');
  progress.update('[1/1] ocr: ok');
  logger.info('hello');
  progress.done();
  assert.match(pipe.bytes, /^ts=\S+ level=info msg=hello\n$/);

  const quiet = new ProgressLine(new FakeTerminal(true), false);
  assert.equal(quiet.active, false);
});

/** util-linux `script`, which runs a command on a real pseudo-terminal and records what it wrote. */
function scriptTool(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/bin'])) {
    const file = path.join(dir, 'script');
    if (existsSync(file)) return file;
  }
  return null;
}

test('`patrol run-once` on a real pseudo-terminal (util-linux script): no log line shares a row with the progress line', async (t) => {
  const script = scriptTool();
  if (!script) {
    t.skip('util-linux `script` is not installed (apt-get install bsdutils)');
    return;
  }
  await withSim({ lagMs: 100 }, async (sim) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'patrol-pty-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = path.join(dir, 'patrol.yml');
    writeFileSync(config, ocrConfig({ platformUrl: sim.url }));
    const record = path.join(dir, 'typescript');
    const cli = path.resolve('src/cli.ts');
    const command = `stty cols 80; ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(cli)} run-once --config.file=${JSON.stringify(config)} --log.level=debug`;
    const child = spawn(script, ['-qec', command, record], { stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 0, 'the round was ok');
    const bytes = readFileSync(record, 'utf8').replace(/^Script started[^\n]*\n/, '').replace(/\nScript done[^\n]*\n?$/, '');
    const term = new FakeTerminal();
    term.bytes = bytes;
    const rows = term.screen();
    assert.ok(bytes.includes('\x1b[K[1/1] ocr: ok'), 'the progress line was drawn');
    const logRows = rows.filter((r) => r.includes('{"level"'));
    assert.ok(logRows.length >= 2, `log lines: ${JSON.stringify(rows)}`);
    for (const row of logRows) assert.ok(json(row) !== undefined, `a log row holds one JSON line and nothing else: ${row}`);
    assert.ok(rows.some((r) => /^ocr|文字识别 \(ocr\)/.test(r)), 'the table follows');
  });
});
