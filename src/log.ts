// One structured logger (pino, JSON lines on stderr so stdout stays free for command output),
// created once and passed in. Everything it writes goes through the redactor: secrets never
// reach a log line, whatever a caller put in it.
import pino, { type Logger } from 'pino';
import type { Redactor } from './redact.js';

export function createLogger(redactor: Redactor, level = process.env.PATROL_LOG_LEVEL ?? 'info', destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
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
    destination as pino.DestinationStream,
  );
}
