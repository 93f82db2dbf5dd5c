// The long-running exporter: config, inspector, schedule, metrics and history, and the rules that
// tie them together (no overlapping rounds, reloads that keep the old config on error, a clean stop).
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { ConfigError, loadConfigFile, parseConfig, type LoadedConfig, type LoadOptions } from './config/load.js';
import type { Inspector } from './engine/inspector.js';
import type { RoundOptions, RoundRunner } from './engine/runner.js';
import { WorkerHost, type RoundAndSave } from './worker/host.js';
import { PatrolMetrics } from './metrics.js';
import type { Redactor } from './redact.js';
import type { RoundStore } from './store/types.js';
import type { Config } from './config/schema.js';
import type { CounterBaseline, RoundResult, RoundTrigger, ServiceResult } from './types.js';
import { applyBaselines } from './engine/baselines.js';
import { Maintenance } from './maintenance.js';
import { maintenanceStoreOf } from './store/maintenance.js';

/** Started with the schedule, told about every reload, stopped before the store is closed. */
export interface BackgroundJobs {
  start(config: Config): void;
  reconfigure(config: Config): void;
  stop(): Promise<void>;
}

export interface ExporterOptions {
  /** A config file, read again on every reload. */
  configFile?: string;
  /** Or config text (tests); reload reads it again from `configText()`. */
  configText?: () => string;
  loadOptions?: LoadOptions;
  logger: Logger;
  metrics: PatrolMetrics;
  store: RoundStore;
  redactor: Redactor;
  /** Make the calls in a worker thread, so scrapes never wait on a round (serve and demo do). */
  roundsInWorker?: boolean;
  /** Only services for which this is true (sharding). */
  only?: (serviceId: string) => boolean;
  /** Scheduled work that follows the config: the daily digest and history pruning (src/digest/scheduler.ts). */
  jobs?: BackgroundJobs;
}

/** A history the round worker can write itself: a SQLite file (not `:memory:`, which only this connection sees). */
interface FileHistory {
  file: string;
  savedElsewhere(round: RoundResult): void;
}

function fileHistoryOf(store: RoundStore): FileHistory | null {
  const s = store as Partial<FileHistory>;
  return typeof s.file === 'string' && s.file !== ':memory:' && typeof s.savedElsewhere === 'function' ? (s as FileHistory) : null;
}

export type ReloadOutcome = { ok: true } | { ok: false; error: string };

export class Exporter {
  private loaded: LoadedConfig | null = null;
  private runner: RoundRunner | null = null;
  private worker: WorkerHost | null = null;
  private task: ScheduledTask | null = null;
  private running: Promise<RoundResult> | null = null;
  private readonly shutdown = new AbortController();
  private stopped = false;
  /** The last known state of each counter, carried into every round (restored from history at start). */
  private baselines = new Map<string, CounterBaseline>();
  private restored = false;
  /** The last process died mid-round: the next round compares no counter (its calls may have been charged unrecorded). */
  private afterCrash = false;
  /** Progress of the round in flight, for the status page. */
  progress: { done: number; total: number } | null = null;

  /** Maintenance windows: the config's and the API's (kept in the history file). */
  readonly maintenance: Maintenance;
  /**
   * The engine, imported only for rounds in this thread (tests, benchmarks): `serve` runs them in the
   * worker, and the engine's modules (undici, OpenTelemetry, the platform session) would cost the
   * serving thread ~20 MB of RSS for code it never runs (BENCHMARKS.md, "`serve` measured as it runs").
   */
  private engine: typeof import('./engine/inspector.js') | null = null;

  constructor(private readonly opts: ExporterOptions) {
    this.maintenance = new Maintenance(maintenanceStoreOf(opts.store, opts.logger), opts.redactor, opts.logger, () => opts.metrics.registryChanged());
    opts.metrics.setLiveFamily(() => this.maintenance.exposition(Date.now()));
  }

  get ready(): boolean {
    return this.loaded !== null && !this.stopped;
  }

  get config() {
    return this.loaded?.config ?? null;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  private load(): LoadedConfig {
    const { configFile, configText, loadOptions } = this.opts;
    if (configText) return parseConfig(configText(), 'config', loadOptions);
    return loadConfigFile(configFile!, loadOptions);
  }

  private apply(loaded: LoadedConfig): void {
    for (const s of loaded.secrets) this.opts.redactor.add(s);
    if (this.opts.roundsInWorker) {
      this.worker ??= new WorkerHost(this.opts.logger);
      this.worker.configure(loaded);
      this.runner = this.worker;
    } else {
      const previous = this.runner as Inspector | null;
      const next = new this.engine!.Inspector({ config: loaded.config, secrets: loaded.secrets, logger: this.opts.logger, redactor: this.opts.redactor });
      if (previous) {
        next.inheritLags(previous);
        // A round in flight keeps the old inspector until it ends.
        void (this.running ?? Promise.resolve()).finally(() => previous.close());
      }
      this.runner = next;
    }
    this.loaded = loaded;
    this.opts.metrics.setServices(loaded.config.services.filter((s) => !this.opts.only || this.opts.only(s.id)));
    this.maintenance.configure(loaded.config, loaded.config.services.filter((s) => s.enabled && (!this.opts.only || this.opts.only(s.id))).map((s) => s.id));
    this.opts.metrics.configLoaded(true);
  }

  private async loadEngine(): Promise<void> {
    if (!this.opts.roundsInWorker) this.engine ??= await import('./engine/inspector.js');
  }

  /** Load the config (throws ConfigError; or take one the caller loaded) and, when `schedule` is set, start the cron and the first round. */
  async start(schedule = true, loaded?: LoadedConfig): Promise<void> {
    await this.loadEngine();
    try {
      this.apply(loaded ?? this.load());
    } catch (err) {
      this.opts.metrics.configLoaded(false);
      throw err;
    }
    this.restore();
    if (schedule) {
      this.schedule();
      this.opts.jobs?.start(this.loaded!.config);
      if (this.loaded!.config.global.run_on_start) void this.runRound('startup');
    }
  }

  /**
   * What the history knows that must outlive a restart: each counter's last read (usage between
   * rounds is seen across a deploy) and each service's failure streak (an alert counted in rounds
   * does not start again from 0). Once, at the first start.
   */
  private restore(): void {
    if (this.restored) return;
    this.restored = true;
    try {
      this.baselines = new Map(this.opts.store.counterBaselines().map((b) => [b.counterKey, b]));
      const ids = this.loaded!.config.services.filter((s) => !this.opts.only || this.opts.only(s.id)).map((s) => s.id);
      this.opts.metrics.restoreFailureStreaks(this.opts.store.failureStreaks(ids));
      const interrupted = this.opts.store.interruptedRoundAt();
      if (interrupted !== null) {
        this.afterCrash = true;
        this.opts.logger.warn(
          { startedAt: new Date(interrupted).toISOString() },
          'the last run stopped mid-round without saving it (a crash or kill -9): its calls may have been charged, so the next round compares no counter with the last reads',
        );
      }
    } catch (err) {
      this.opts.logger.error({ err: this.opts.redactor.redact((err as Error).message) }, 'could not read the counters and failure streaks from the history; starting without them');
    }
  }

  private schedule(): void {
    this.task?.destroy();
    const { schedule, timezone } = this.loaded!.config.global;
    this.task = cron.schedule(
      schedule,
      () => {
        void this.runRound('schedule');
        this.opts.metrics.setNextRound(this.task?.getNextRun() ?? null);
      },
      { timezone, name: 'patrol-round' },
    );
    this.opts.metrics.setNextRound(this.task.getNextRun());
  }

  /** Read the config again; on any problem keep the running one and say why. */
  async reload(): Promise<ReloadOutcome> {
    let loaded: LoadedConfig;
    try {
      loaded = this.load();
    } catch (err) {
      this.opts.metrics.configLoaded(false);
      const error = err instanceof ConfigError ? err.message : `reload failed: ${(err as Error).message}`;
      this.opts.logger.error({ error: this.opts.redactor.redact(error) }, 'config reload failed; keeping the previous config');
      return { ok: false, error: this.opts.redactor.redact(error) };
    }
    await this.loadEngine();
    this.apply(loaded);
    if (this.task) {
      this.schedule();
      this.opts.jobs?.reconfigure(loaded.config);
    }
    this.opts.logger.info({ services: loaded.config.services.length }, 'config reloaded');
    return { ok: true };
  }

  /** Start a round unless one is running (then the skip is counted and null returned). */
  runRound(trigger: RoundTrigger, onServiceDone?: (r: ServiceResult, done: number, total: number) => void): Promise<RoundResult> | null {
    if (this.stopped || !this.runner) return null;
    if (this.running) {
      this.opts.metrics.roundSkipped();
      this.opts.logger.warn({ trigger }, 'round skipped: the previous round is still running');
      return null;
    }
    const log = this.opts.logger;
    this.progress = { done: 0, total: 0 };
    const compare = !this.afterCrash;
    try {
      this.opts.store.roundStarting(Date.now());
    } catch (err) {
      log.error({ err: this.opts.redactor.redact((err as Error).message) }, 'could not mark the round as started in the history');
    }
    const options: RoundOptions = {
      trigger,
      signal: this.shutdown.signal,
      only: this.opts.only,
      baselines: [...this.baselines.values()],
      compare,
      // Services inside a maintenance window now: not inspected, verdict maintenance.
      maintenance: this.maintenanceResults(),
      onServiceDone,
      onProgress: (done: number, total: number) => {
        this.progress = { done, total };
      },
    };
    // With rounds in the worker, the worker writes the round's lines of /metrics (exposition.ts) and,
    // with a history file, saves the round too: thousands of rows written here held up every scrape
    // (BENCHMARKS.md). Otherwise the round is saved here.
    const inWorker = this.worker !== null && this.runner === this.worker;
    const history = inWorker ? fileHistoryOf(this.opts.store) : null;
    const run: Promise<RoundAndSave> = inWorker
      ? this.worker!.runAndSave(options, history?.file ?? null)
      : this.runner.runRound(options).then((result) => ({ result, saved: null }));
    const round = run
      .then(({ result, saved, lines }) => {
        this.opts.metrics.recordRound(result, lines);
        applyBaselines(this.baselines, result);
        if (!compare) this.afterCrash = false;
        let saveError: string | null = null;
        if (saved === null) {
          try {
            this.opts.store.save(result);
          } catch (err) {
            saveError = (err as Error).message;
          }
        } else if (saved.ok) {
          history!.savedElsewhere(result);
        } else {
          saveError = saved.error;
        }
        if (saveError !== null) {
          // Disk full, a read-only file: the round is on /metrics but not in the history; counted so it can page.
          this.opts.metrics.historyWriteFailed();
          log.error({ err: this.opts.redactor.redact(saveError), round: result.id }, 'could not save the round to history');
        }
        const failed = result.services.filter((s) => s.verdict !== 'ok' && s.verdict !== 'maintenance');
        const aborted = result.abortedServices?.length ?? 0;
        log.info(
          { round: result.id, trigger, seconds: result.durationSeconds, services: result.services.length, failed: failed.length, aborted: result.aborted, notFinished: aborted, timedOut: result.timedOut ?? false },
          'round finished',
        );
        return result;
      })
      .finally(() => {
        this.running = null;
        this.progress = null;
      });
    // Callers on the schedule do not wait for the round; a failure is logged, never unhandled.
    round.catch((err: Error) => log.error({ err: err.message, trigger }, 'round failed'));
    this.running = round;
    return round;
  }

  /** The maintenance results of this round's services that a window covers now (none when evaluating fails: inspect them). */
  private maintenanceResults(): ServiceResult[] {
    const services = this.loaded!.config.services.filter((s) => s.enabled && (!this.opts.only || this.opts.only(s.id)));
    try {
      return this.maintenance.results(services, Date.now());
    } catch (err) {
      this.opts.logger.error({ err: this.opts.redactor.redact((err as Error).message) }, 'could not evaluate the maintenance windows; inspecting every service');
      return [];
    }
  }

  /** SIGTERM: stop scheduling, abort the round in flight (it ends within moments), keep its result. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.task?.destroy();
    this.task = null;
    this.shutdown.abort(new Error('shutdown'));
    await this.running?.catch(() => undefined);
    await this.runner?.close();
    await this.opts.jobs?.stop();
    this.opts.store.close();
  }
}
