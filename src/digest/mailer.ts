// Composing the emails (the daily digest; one round's table for `run-once --mail`) and delivering
// them over SMTP with nodemailer, with bounded retries. Errors are data: delivery returns what
// happened, with a redacted reason, and never throws.
import type { Transporter } from 'nodemailer';
import type { SmtpConfig } from '../config/schema.js';
import { excerpt } from '../redact.js';
import type { RoundResult } from '../types.js';
import { sleep } from '../util/duration.js';
import type { DigestData } from './build.js';
import { buildDigest } from './query.js';
import { renderDigestHtml } from './html.js';
import type { Locale } from '../present/labels.js';
import { renderDigestText } from './text.js';
import { dayIn } from '../util/time.js';

export interface MailMessage {
  subject: string;
  html: string;
  text: string;
}

/** Sends one message or throws. The SMTP implementation below; tests may pass their own. */
export type MailSender = (message: MailMessage) => Promise<void>;

export interface ComposeOptions {
  timezone: string;
  locale: Locale;
  /** digest.subject: `{{date}}` becomes the day. */
  subjectTemplate: string;
  redact: (text: string) => string;
}

export function renderSubject(template: string, day: string): string {
  return template.replace(/\{\{\s*date\s*\}\}/g, day);
}

/** The daily digest of `day` from that day's rounds. */
export function digestMessage(rounds: RoundResult[], day: string, opts: ComposeOptions): MailMessage {
  return digestMessageOf(buildDigest(rounds, day, opts.timezone), day, opts);
}

/** The daily digest from figures already computed (query.ts queryDigest). */
export function digestMessageOf(data: DigestData, day: string, opts: ComposeOptions): MailMessage {
  // Header lines cannot carry a newline; the subject is also redacted like everything else.
  const subject = opts.redact(renderSubject(opts.subjectTemplate, day)).replace(/[\r\n]+/g, ' ');
  const render = { locale: opts.locale, redact: opts.redact, title: subject };
  return { subject, html: renderDigestHtml(data, render), text: renderDigestText(data, render) };
}

/** One round's table, the way the original script mailed it after every run. */
export function roundMessage(round: RoundResult, opts: ComposeOptions): MailMessage {
  const day = dayIn(opts.timezone, round.startedAt);
  const data = buildDigest([round], day, opts.timezone);
  const subject = opts.redact(renderSubject(opts.subjectTemplate, day)).replace(/[\r\n]+/g, ' ');
  const render = { locale: opts.locale, redact: opts.redact, title: subject, includeDay: false };
  return { subject, html: renderDigestHtml(data, render), text: renderDigestText(data, render) };
}

export function defaultPort(tls: SmtpConfig['tls']): number {
  return tls === 'implicit' ? 465 : tls === 'starttls' ? 587 : 25;
}

/** A sender for the smtp section. A new connection per message: digests are rare, and a pooled
 *  connection would sit idle for a day and be dropped by the server anyway. */
export function smtpSender(smtp: SmtpConfig): MailSender {
  // nodemailer is imported for the first message, not at start: ~2 MB of heap the serving thread
  // would hold all day for a message or two.
  let transport: Promise<Transporter> | null = null;
  const open = async (): Promise<Transporter> =>
    (await import('nodemailer')).default.createTransport({
      host: smtp.host,
      port: smtp.port ?? defaultPort(smtp.tls),
      secure: smtp.tls === 'implicit',
      requireTLS: smtp.tls === 'starttls',
      ignoreTLS: smtp.tls === 'none',
      auth: smtp.username !== '' ? { user: smtp.username, pass: smtp.password } : undefined,
      tls: { rejectUnauthorized: !smtp.insecure_skip_verify, servername: smtp.host },
      connectionTimeout: smtp.timeout,
      greetingTimeout: smtp.timeout,
      socketTimeout: smtp.timeout,
      logger: false,
      debug: false,
    });
  return async (message) => {
    transport ??= open();
    await (await transport).sendMail({
      from: smtp.from,
      to: smtp.to,
      cc: smtp.cc.length > 0 ? smtp.cc : undefined,
      subject: message.subject,
      html: message.html,
      text: message.text,
    });
  };
}

export interface RetryOptions {
  attempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** Stops waiting between attempts (shutdown); the message stays undelivered. */
  signal?: AbortSignal;
  redact: (text: string) => string;
  onAttemptFailed?: (attempt: number, error: string, nextInMs: number | null) => void;
}

export type Delivery = { ok: true; attempts: number } | { ok: false; attempts: number; error: string };

/** One line saying why a send failed, without secrets (SMTP servers echo user names back). */
export function sendError(err: unknown, redact: (text: string) => string): string {
  const e = err as { message?: string; code?: string; responseCode?: number };
  const text = [e.code, e.responseCode, e.message ?? String(err)].filter((v) => v !== undefined && v !== '').join(' ');
  // Redacted whole, then cut: a cut first could leave the beginning of a secret the server echoed.
  return excerpt(text.replace(/\s+/g, ' '), 500, redact);
}

/** Try up to `attempts` times, waiting backoff, 2x backoff, ... (capped) in between. */
export async function deliver(send: MailSender, message: MailMessage, opts: RetryOptions): Promise<Delivery> {
  let error = '';
  const attempts = Math.max(1, opts.attempts);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (opts.signal?.aborted) return { ok: false, attempts: attempt - 1, error: error || 'stopped before sending' };
    try {
      await send(message);
      return { ok: true, attempts: attempt };
    } catch (err) {
      error = sendError(err, opts.redact);
      const wait = attempt < attempts ? Math.min(opts.maxBackoffMs, opts.backoffMs * 2 ** (attempt - 1)) : null;
      opts.onAttemptFailed?.(attempt, error, wait);
      if (wait !== null) await sleep(wait, opts.signal);
    }
  }
  return { ok: false, attempts, error };
}
