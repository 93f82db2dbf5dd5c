// The exporter's background work besides rounds: the daily digest on its cron, and maintenance
// (history pruning in small steps, building rollups of older history, retrying undelivered emails)
// on another. A digest is written to the SQLite
// outbox *before* the first delivery attempt, so one that cannot be delivered (SMTP down, the
// process killed during the retries) is retried at the next start and on every maintenance run,
// and is never silently dropped.
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Config, SmtpConfig } from '../config/schema.js';
import type { PatrolMetrics } from '../metrics.js';
import type { Redactor } from '../redact.js';
import type { SqliteStore, StepResult } from '../store/sqlite.js';
import { deliver, digestMessageOf, smtpSender, type Delivery, type MailSender } from './mailer.js';
import { Outbox, type OutboxMessage } from './outbox.js';
import { queryDigest } from './query.js';
import { withBudgets } from './budget.js';
import { dayIn, shiftDay } from '../util/time.js';

export interface DigestJobsDeps {
  store: SqliteStore;
  metrics: PatrolMetrics;
  logger: Logger;
  redactor: Redactor;
  /** How to send with an smtp section; tests may wrap it. Default: nodemailer over SMTP. */
  senderFor?: (smtp: SmtpConfig) => MailSender;
  now?: () => number;
}

export interface FlushResult {
  sent: number;
  failed: number;
}

export class DigestJobs {
  private config: Config | null = null;
  private digestTask: ScheduledTask | null = null;
  private maintenanceTask: ScheduledTask | null = null;
  /** The flush in progress, and at most one queued behind it (it will see every pending message). */
  private current: Promise<FlushResult> | null = null;
  private queued: Promise<FlushResult> | null = null;
  private readonly stopping = new AbortController();
  private stopped = false;
  private readonly outbox: Outbox;
  /** The maintenance run in progress (pruning and rollups in steps), if any. */
  private maintaining: Promise<void> | null = null;

  constructor(private readonly deps: DigestJobsDeps) {
    this.outbox = new Outbox(deps.store.db);
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** First config: schedule, prune once, and retry whatever the last run could not deliver. */
  start(config: Config): void {
    this.reconfigure(config);
    void this.maintain();
    void this.flush();
  }

  /** A (re)loaded config: the schedules, timezone, recipients and retention follow it. */
  reconfigure(config: Config): void {
    if (this.stopped) return;
    this.config = config;
    this.digestTask?.destroy();
    this.maintenanceTask?.destroy();
    this.digestTask = null;
    const timezone = config.global.timezone;
    this.maintenanceTask = cron.schedule(
      config.storage.maintenance_schedule,
      () => {
        void this.maintain();
        void this.flush();
      },
      { timezone, name: 'patrol-maintenance' },
    );
    if (config.digest.enabled && config.smtp) {
      this.digestTask = cron.schedule(config.digest.schedule, () => void this.scheduledDigest(), { timezone, name: 'patrol-digest' });
    } else if (config.digest.enabled) {
      this.deps.logger.info('no smtp section: the daily digest is not sent (patrol digest --out still builds it)');
    }
  }

  /** The day a digest sent now reports (digest.day: previous or current, in global.timezone). */
  reportDay(at = this.now()): string {
    const config = this.requireConfig();
    const today = dayIn(config.global.timezone, at);
    return config.digest.day === 'previous' ? shiftDay(today, -1) : today;
  }

  private requireConfig(): Config {
    if (!this.config) throw new Error('DigestJobs: no config yet (call start first)');
    return this.config;
  }

  private async scheduledDigest(): Promise<void> {
    const day = this.reportDay();
    // A digest already queued or sent for that day (a second process, a clock jump) is not sent twice.
    if (this.outbox.messagesFor('digest', day).length > 0) {
      this.deps.logger.info({ day }, 'digest for this day already queued or sent');
      return;
    }
    await this.sendDigest(day);
  }

  /** Build the digest of `day` from history, queue it, and deliver everything pending. */
  async sendDigest(day: string): Promise<OutboxMessage> {
    const config = this.requireConfig();
    const message = digestMessageOf(withBudgets(queryDigest(this.deps.store, day, config.global.timezone), this.deps.store, config, this.now()), day, {
      timezone: config.global.timezone,
      locale: config.digest.locale,
      subjectTemplate: config.digest.subject,
      redact: (t) => this.deps.redactor.redact(t),
    });
    const queued = this.outbox.enqueue({ kind: 'digest', day, ...message }, this.now());
    this.countOutbox();
    this.deps.logger.info({ day, id: queued.id }, 'digest queued');
    await this.flush();
    return this.outbox.message(queued.id) ?? queued;
  }

  /** Deliver every pending message (each with the configured retries). Serialised. */
  flush(): Promise<FlushResult> {
    if (this.queued) return this.queued;
    if (!this.current) {
      this.current = this.flushOnce().finally(() => (this.current = null));
      return this.current;
    }
    this.queued = this.current.then(() => {
      this.queued = null;
      return this.flush();
    });
    return this.queued;
  }

  /** patrol_digest_outbox_messages: what is waiting. Never throws (a closed or broken store is logged). */
  private countOutbox(): void {
    try {
      this.deps.metrics.setOutboxMessages(this.outbox.pendingCount());
    } catch (err) {
      this.deps.logger.warn({ err: this.deps.redactor.redact((err as Error).message) }, 'could not count the outbox');
    }
  }

  private async flushOnce(): Promise<FlushResult> {
    try {
      return await this.deliverPending();
    } finally {
      if (!this.stopped) this.countOutbox();
    }
  }

  private async deliverPending(): Promise<FlushResult> {
    const result: FlushResult = { sent: 0, failed: 0 };
    const config = this.config;
    if (!config || this.stopped) return result;
    const pending = this.outbox.pending();
    if (pending.length === 0) return result;
    if (!config.smtp) {
      this.deps.logger.warn({ pending: pending.length }, 'emails are waiting but there is no smtp section to send them with');
      return result;
    }
    const send = (this.deps.senderFor ?? smtpSender)(config.smtp);
    const { retry } = config.digest;
    const redact = (t: string) => this.deps.redactor.redact(t);
    for (const message of pending) {
      if (this.stopped) break;
      const log = this.deps.logger.child({ email: message.id, kind: message.kind, day: message.day });
      const outcome: Delivery = await deliver(send, message, {
        attempts: retry.attempts,
        backoffMs: retry.backoff,
        maxBackoffMs: retry.max_backoff,
        signal: this.stopping.signal,
        redact,
        onAttemptFailed: (attempt, error, next) => log.warn({ attempt, error, retryInMs: next }, 'email delivery attempt failed'),
      });
      if (outcome.ok) {
        this.outbox.markSent(message.id, this.now());
        if (message.kind === 'digest') this.deps.metrics.digestDelivered(this.now());
        log.info({ attempts: outcome.attempts }, 'email delivered');
        result.sent++;
      } else {
        this.outbox.markFailed(message.id, outcome.error);
        result.failed++;
        if (this.stopped) break;
        // A digest is counted once, when its first delivery run fails; its retries on later
        // maintenance runs (and after a restart) are the same digest, shown by the outbox gauge.
        if (message.kind === 'digest' && message.attempts === 0) this.deps.metrics.digestFailed();
        log.error({ attempts: outcome.attempts, error: outcome.error }, 'email not delivered; it stays pending and is retried on the next maintenance run and at the next start');
      }
    }
    return result;
  }

  /**
   * Maintenance: delete history older than storage.retention and delivered emails as old, then
   * build the rollups of history written before rollups existed. Both run in steps of ~20 ms
   * (store.pruneStep, store.rollupStep) with the event loop free between them, so scrapes and
   * pages never wait behind a long delete. One run at a time; a run already going is returned.
   * Failures are logged, never thrown (the next run tries again).
   */
  maintain(): Promise<void> {
    this.maintaining ??= this.maintainOnce().finally(() => (this.maintaining = null));
    return this.maintaining;
  }

  private async maintainOnce(): Promise<void> {
    const config = this.config;
    if (!config || this.stopped) return;
    const before = this.now() - config.storage.retention;
    try {
      const rounds = await this.inSteps(() => this.deps.store.pruneStep(before));
      const messages = this.outbox.prune(before);
      if (rounds > 0 || messages > 0) this.deps.logger.info({ rounds, messages }, 'history pruned');
      const slots = await this.inSteps(() => this.deps.store.rollupStep());
      if (slots > 0) this.deps.logger.info({ hours: slots }, 'rollups built for older history');
    } catch (err) {
      this.deps.logger.error({ err: this.deps.redactor.redact((err as Error).message) }, 'history maintenance failed');
    }
  }

  /** Runs steps until none is left (or shutdown), yielding to the event loop after each. */
  private async inSteps(step: () => StepResult): Promise<number> {
    let done = 0;
    // Bounded: a million steps is far beyond any history (a step deletes at least one round).
    for (let i = 0; i < 1_000_000 && !this.stopped; i++) {
      const s = step();
      done += s.done;
      if (!s.more) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return done;
  }

  /** Stop the schedules and any waiting between retries; an undelivered email stays pending. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.digestTask?.destroy();
    this.maintenanceTask?.destroy();
    this.stopping.abort();
    await this.maintaining?.catch(() => undefined);
    await this.queued?.catch(() => undefined);
    await this.current?.catch(() => undefined);
  }
}
