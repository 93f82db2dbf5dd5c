// One structured logger (pino, on stderr so stdout stays free for command output), created once and
// passed in. Everything it writes goes through the redactor: secrets never reach a log line,
// whatever a caller put in it. Two formats, as other Prometheus exporters offer (--log.format):
// JSON lines, or logfmt (key=value) for people reading a terminal or a journal.
import pino, { type Logger } from 'pino';
import type { Redactor } from './redact.js';

export type LogFormat = 'json' | 'logfmt';

/** The format each logger was made with, so that the round worker makes its own logger alike. */
const formats = new WeakMap<Logger, LogFormat>();

export function logFormatOf(logger: Logger): LogFormat {
  return formats.get(logger) ?? 'json';
}

export function createLogger(
  redactor: Redactor,
  level = process.env.PATROL_LOG_LEVEL ?? 'info',
  destination: NodeJS.WritableStream = process.stderr,
  format: LogFormat = 'json',
): Logger {
  const logger = pino(
    {
      level,
      base: undefined,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => (redactor.size === 0 ? obj : (JSON.parse(redactor.redact(JSON.stringify(obj))) as Record<string, unknown>)),
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? redactor.redact(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    // The finished line is redacted too: a child logger's fields (logger.child({...})) are serialised
    // once when it is made and never pass through the log formatter above. logfmt is rewritten from
    // that redacted JSON line: one serializer.
    {
      write: (line: string) => {
        const clean = redactor.size === 0 ? line : redactor.redact(line);
        destination.write(format === 'logfmt' ? logfmtLine(clean) : clean);
      },
    } as pino.DestinationStream,
  );
  formats.set(logger, format);
  return logger;
}

/** A value as logfmt writes it: bare when it can be, else double-quoted with \\, " and control characters escaped. */
function logfmtValue(value: unknown): string {
  const text = typeof value === 'string' ? value : value === null || value === undefined ? String(value) : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (text !== '' && !/[\s"=\\\p{Cc}]/u.test(text)) return text;
  return `"${text.replace(/[\\"\p{Cc}]/gu, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

/** Keys are written bare; anything outside the safe characters becomes `_`, so a key cannot break a line. */
function logfmtKey(key: string): string {
  return key.replace(/[^\w.\-/]/g, '_') || '_';
}

/**
 * One pino JSON line as one logfmt line: `ts level msg` first (as Prometheus's own logs), then the
 * other fields in their order; nested objects flattened with dots (err.message=...).
 */
export function logfmtLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `msg=${logfmtValue(json.trimEnd())}\n`;
  }
  const { time, level, msg, ...rest } = record;
  const pairs: string[] = [];
  if (typeof time === 'number') pairs.push(`ts=${new Date(time).toISOString()}`);
  if (level !== undefined) pairs.push(`level=${logfmtValue(level)}`);
  if (msg !== undefined) pairs.push(`msg=${logfmtValue(msg)}`);
  const add = (prefix: string, obj: Record<string, unknown>, depth: number) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + logfmtKey(k);
      // Two levels are plenty for log fields; deeper values stay JSON in one field.
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 2) add(`${key}.`, v as Record<string, unknown>, depth + 1);
      else pairs.push(`${key}=${logfmtValue(v)}`);
    }
  };
  add('', rest, 0);
  return `${pairs.join(' ')}\n`;
}
