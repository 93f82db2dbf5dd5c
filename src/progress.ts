// run-once's progress line on a terminal, kept apart from the log lines written to the same stream.
// The line is redrawn in place with a carriage return; a log line written meanwhile would start in
// the middle of it and leave its remains behind. So log lines go through here: the progress line is
// cleared, the log line written on a clean line, and the progress line drawn again below it.
import { Writable } from 'node:stream';
import { displayWidth } from './util/width.js';

/** What the progress line needs of its stream (process.stderr, or any stream that says it is a terminal). */
export interface TerminalStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/** Carriage return, then erase to the end of the line. */
const CLEAR = '\r\x1b[K';

export class ProgressLine {
  private line = '';
  /** False when the stream is no terminal (a file, a pipe) or progress is not wanted: nothing is drawn. */
  readonly active: boolean;

  constructor(private readonly out: TerminalStream, wanted = true) {
    this.active = wanted && out.isTTY === true;
  }

  /** Show `text` as the progress line, in place of the previous one. */
  update(text: string): void {
    if (!this.active) return;
    // Control characters in a service id would move the cursor; and a line wider than the terminal
    // wraps, which a carriage return cannot clear: cut to one row.
    this.line = fit(text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' '), (this.out.columns ?? 80) - 1);
    this.out.write(CLEAR + this.line);
  }

  /** Write a log chunk on a line of its own, then draw the progress line again below it. */
  log(chunk: string): void {
    if (!this.active || this.line === '') {
      this.out.write(chunk);
      return;
    }
    // A chunk that does not end its line would be continued by the progress line: leave it undrawn
    // until the next update.
    const complete = chunk.endsWith('\n');
    this.out.write(CLEAR + chunk + (complete ? this.line : ''));
    if (!complete) this.line = '';
  }

  /** The stream to give the logger: every line it writes goes through log(). */
  stream(): Writable {
    return new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, _encoding, done) => {
        this.log(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
        done();
      },
    });
  }

  /** Erase the progress line (before the table is printed). */
  done(): void {
    if (this.active && this.line !== '') this.out.write(CLEAR);
    this.line = '';
  }
}

/** `text` cut to at most `columns` terminal columns (CJK characters take two). */
function fit(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  let out = '';
  for (const ch of text) {
    if (displayWidth(out + ch) > columns - 1) break;
    out += ch;
  }
  return `${out}…`;
}
