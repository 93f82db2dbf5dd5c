// The command-line side of history and mail, kept here so src/cli.ts only wires flags:
// opening the history file named by the config, `patrol digest`, and `run-once --mail`.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { loadConfigFile, type LoadedConfig, type LoadOptions } from '../config/load.js';
import type { Redactor } from '../redact.js';
import { SqliteStore } from '../store/sqlite.js';
import type { RoundResult } from '../types.js';
import { queryDigest } from './query.js';
import { withBudgets } from './budget.js';
import { deliver, digestMessageOf, roundMessage, smtpSender, type MailMessage, type MailSender } from './mailer.js';
import { dayIn, isDay, shiftDay } from '../util/time.js';

/**
 * The history file: `--storage.path` when given (relative to the working directory), else the
 * config's storage.path, relative to the config file's folder (as ${file:...} secrets are), so a
 * config and its history stay together whatever directory the command runs in.
 */
export function storagePath(config: Config, configFile: string, override?: string): string {
  if (override) return override === ':memory:' ? override : path.resolve(override);
  const p = config.storage.path;
  return p === ':memory:' ? p : path.resolve(path.dirname(path.resolve(configFile)), p);
}

export function openHistory(config: Config, configFile: string, override?: string): SqliteStore {
  return new SqliteStore(storagePath(config, configFile, override));
}

export interface DigestCommandOptions {
  configFile: string;
  loadOptions?: LoadOptions;
  /** YYYY-MM-DD; default: the day digest.day names (yesterday by default) in global.timezone. */
  date?: string;
  /** Write the HTML part here (a path ending in .txt gets the plain-text part). */
  out?: string;
  send?: boolean;
  /** --storage.path */
  storagePath?: string;
  redactor: Redactor;
  logger: Logger;
  /** Tests replace SMTP. */
  senderFor?: (smtp: NonNullable<Config['smtp']>) => MailSender;
  write?: (text: string) => void;
}

export type CommandOutcome = { ok: true; message: MailMessage; day: string } | { ok: false; error: string };

/** `patrol digest`: build the digest of a day from the SQLite history; print, write or send it. */
export async function digestCommand(opts: DigestCommandOptions): Promise<CommandOutcome> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFile(opts.configFile, opts.loadOptions);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  for (const s of loaded.secrets) opts.redactor.add(s);
  const redact = (t: string) => opts.redactor.redact(t);
  const { config } = loaded;
  const tz = config.global.timezone;
  const today = dayIn(tz);
  const day = opts.date ?? (config.digest.day === 'previous' ? shiftDay(today, -1) : today);
  if (!isDay(day)) return { ok: false, error: `--date: expected YYYY-MM-DD, got "${day}"` };
  if (opts.send && !config.smtp) return { ok: false, error: `${opts.configFile}: --send needs an smtp section` };

  let store: SqliteStore;
  try {
    store = openHistory(config, opts.configFile, opts.storagePath);
  } catch (err) {
    return { ok: false, error: redact((err as Error).message) };
  }
  let message: MailMessage;
  try {
    message = digestMessageOf(withBudgets(queryDigest(store, day, tz), store, config, Date.now()), day, { timezone: tz, locale: config.digest.locale, subjectTemplate: config.digest.subject, redact });
  } finally {
    store.close();
  }

  const write = opts.write ?? ((t: string) => process.stdout.write(t));
  if (opts.out) {
    writeFileSync(opts.out, opts.out.endsWith('.txt') ? message.text : message.html);
    opts.logger.info({ day, out: opts.out }, 'digest written');
  } else if (!opts.send) {
    write(message.text);
  }
  if (opts.send) {
    const send = (opts.senderFor ?? smtpSender)(config.smtp!);
    const outcome = await deliver(send, message, {
      attempts: config.digest.retry.attempts,
      backoffMs: config.digest.retry.backoff,
      maxBackoffMs: config.digest.retry.max_backoff,
      redact,
      onAttemptFailed: (attempt, error, next) => opts.logger.warn({ attempt, error, retryInMs: next }, 'digest delivery attempt failed'),
    });
    if (!outcome.ok) return { ok: false, error: `digest for ${day} not delivered after ${outcome.attempts} attempt(s): ${outcome.error}` };
    opts.logger.info({ day, attempts: outcome.attempts }, 'digest delivered');
  }
  return { ok: true, message, day };
}

/** `run-once --mail`: this round's table by email, as the original script sent it after each run. */
export async function mailRound(
  round: RoundResult,
  config: Config,
  redactor: Redactor,
  logger: Logger,
  senderFor: (smtp: NonNullable<Config['smtp']>) => MailSender = smtpSender,
): Promise<{ ok: true } | { ok: false; error: string }> {
  if (!config.smtp) return { ok: false, error: '--mail needs an smtp section in the config' };
  const redact = (t: string) => redactor.redact(t);
  const message = roundMessage(round, { timezone: config.global.timezone, locale: config.digest.locale, subjectTemplate: config.digest.subject, redact });
  const outcome = await deliver(senderFor(config.smtp), message, {
    attempts: config.digest.retry.attempts,
    backoffMs: config.digest.retry.backoff,
    maxBackoffMs: config.digest.retry.max_backoff,
    redact,
    onAttemptFailed: (attempt, error, next) => logger.warn({ attempt, error, retryInMs: next }, 'mail delivery attempt failed'),
  });
  return outcome.ok ? { ok: true } : { ok: false, error: `mail not delivered after ${outcome.attempts} attempt(s): ${outcome.error}` };
}
