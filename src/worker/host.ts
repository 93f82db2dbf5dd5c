// Rounds in a worker thread. A round of thousands of services keeps one core busy with requests
// and JSON; in the main thread that made every scrape of /metrics wait (BENCHMARKS.md). Here the
// main thread only serves HTTP and records results; the worker makes the calls and, when the history
// is a SQLite file, saves the round to it (its own connection to the same file: WAL lets both in),
// since writing thousands of rows in the serving thread held up every scrape for 100-300 ms.
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { logFormatOf, type LogFormat } from '../log.js';
import type { CounterBaseline, RoundResult, RoundTrigger, ServiceResult } from '../types.js';
import type { LinesRef, ResultLines } from '../exposition.js';
import type { RoundOptions, RoundRunner } from '../engine/runner.js';

export type ToWorker =
  | { type: 'configure'; loaded: LoadedConfig; logLevel: string; logFormat: LogFormat }
  | { type: 'run'; id: number; trigger: RoundTrigger; only: string[] | null; baselines: CounterBaseline[]; compare: boolean; historyFile: string | null; maintenance?: ServiceResult[] }
  | { type: 'abort'; id: number; reason: string }
  | { type: 'close' };

export type FromWorker =
  /** Judged services, a batch at a time (see main.ts). */
  | { type: 'services'; id: number; results: ServiceResult[] }
  | { type: 'progress'; id: number; done: number; total: number }
  /** The round without its services (they came one by one), their order, and their lines of /metrics in that order. */
  | { type: 'done'; id: number; result: RoundResult; order: string[]; lines: ResultLines; saved: SaveOutcome | null }
  | { type: 'failed'; id: number; message: string };

/** Whether the worker saved the round to the history file (null: it was not asked to). */
export type SaveOutcome = { ok: true } | { ok: false; error: string };

export interface RoundAndSave {
  result: RoundResult;
  saved: SaveOutcome | null;
  /** Each service's lines of /metrics, written by the worker (for PatrolMetrics.recordRound; absent when the round ran in the serving thread). */
  lines?: ReadonlyMap<string, LinesRef>;
}

interface Pending {
  services: Map<string, ServiceResult>;
  resolve: (r: RoundAndSave) => void;
  reject: (e: Error) => void;
  onProgress?: (done: number, total: number) => void;
}

// Compiled: the worker runs main.js. From source: boot.mjs loads tsx into the worker,
// then main.ts (tsx's loader hooks do not reach worker threads by themselves).
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_FILE = new URL(FROM_SOURCE ? './boot.mjs' : './main.js', import.meta.url);
const WORKER_DATA = { entry: new URL('./main.ts', import.meta.url).href };
/**
 * The round thread's heap (BENCHMARKS.md, "The heap's growth"). A round of 5,000 services makes
 * ~900 MB of short-lived garbage in this thread while ~40 MB stays alive. V8 chooses how far an old
 * generation may grow past what survived its last full collection from the heap's maximum: up to
 * 4 times for a large maximum (the default, sized from the machine's memory), less, down to ~1.3
 * times, for a small one. With 512 MB this thread's heap stays near what is alive and the process's
 * peak RSS during one round at ~240 MB instead of ~310 MB, without a flag for the whole process
 * (the serving thread keeps V8's defaults and collects less often). 512 MB is also this thread's
 * ceiling: ~12 times what 5,000 services keep alive; a config that needs more stops the thread
 * (logged with the way out: --shard). The young generation is half of V8's 48 MB: at the full size
 * it stayed committed between rounds (~15 MB of RSS, no CPU measured).
 */
export const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 24 };

/**
 * The serving thread's young generation is capped by node's `--max-semi-space-size` flag, given
 * where the process starts (bin/patrol.js, package.json's scripts, the Dockerfile; BENCHMARKS.md,
 * "The serving thread's young generation"). V8 reads that flag for every heap made after it too and
 * lets it win over a worker's resourceLimits, so it is cleared before the round thread starts: that
 * thread keeps its own young generation. The serving thread's heap was sized when it started; clearing
 * the flag does not change it.
 */
function clearSemiSpaceFlag(): void {
  v8.setFlagsFromString('--max-semi-space-size=0');
}

export class WorkerHost implements RoundRunner {
  private worker: Worker | null = null;
  private loaded: LoadedConfig | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    /** The thread's heap limits (other values only in tests). */
    private readonly limits: typeof WORKER_RESOURCE_LIMITS = WORKER_RESOURCE_LIMITS,
  ) {}

  /** The worker, started (again, after a crash) on demand with the current config. */
  private ensure(): Worker {
    if (this.worker) return this.worker;
    clearSemiSpaceFlag();
    const worker = new Worker(WORKER_FILE, { workerData: WORKER_DATA, resourceLimits: this.limits });
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (err) => {
      const outOfMemory = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      const hint = outOfMemory ? `: its heap is capped at ${this.limits.maxOldGenerationSizeMb} MB; split the services across exporters with --shard` : '';
      this.logger.error({ err: err.message }, `round worker failed${hint}`);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      for (const [id, p] of this.pending) {
        p.reject(new Error(`the round worker stopped (exit code ${code})`));
        this.pending.delete(id);
      }
    });
    this.worker = worker;
    if (this.loaded) worker.postMessage(this.configureMessage(this.loaded));
    return worker;
  }

  private configureMessage(loaded: LoadedConfig): ToWorker {
    return { type: 'configure', loaded, logLevel: this.logger.level, logFormat: logFormatOf(this.logger) };
  }

  private onMessage(m: FromWorker): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'services') for (const r of m.results) p.services.set(r.serviceId, r);
    else if (m.type === 'progress') p.onProgress?.(m.done, m.total);
    else {
      this.pending.delete(m.id);
      if (m.type === 'done') {
        const lines = new Map(m.order.map((sid, index) => [sid, { lines: m.lines, index }]));
        p.resolve({ result: { ...m.result, services: m.order.map((sid) => p.services.get(sid)!) }, saved: m.saved, lines });
      } else p.reject(new Error(m.message));
    }
  }

  /** Use this config from the next round on (a round in flight finishes with the old one). */
  configure(loaded: LoadedConfig): void {
    this.loaded = loaded;
    this.ensure().postMessage(this.configureMessage(loaded));
  }

  runRound(opts: RoundOptions): Promise<RoundResult> {
    return this.runAndSave(opts, null).then((r) => r.result);
  }

  /** A round, then (when `historyFile` is given) saved to that SQLite file by the worker before it answers. */
  runAndSave(opts: RoundOptions, historyFile: string | null): Promise<RoundAndSave> {
    if (this.closed) return Promise.reject(new Error('the round worker is closed'));
    const worker = this.ensure();
    const id = this.nextId++;
    // A filter function cannot cross threads; the ids it lets through can.
    const only = opts.only && this.loaded ? this.loaded.config.services.map((s) => s.id).filter(opts.only) : null;
    const abort = () => worker.postMessage({ type: 'abort', id, reason: (opts.signal?.reason as Error)?.message ?? 'aborted' } satisfies ToWorker);
    const round = new Promise<RoundAndSave>((resolve, reject) => {
      this.pending.set(id, { services: new Map(), resolve, reject, onProgress: opts.onProgress });
      if (opts.signal?.aborted) abort();
      else opts.signal?.addEventListener('abort', abort, { once: true });
      worker.postMessage({ type: 'run', id, trigger: opts.trigger, only, baselines: opts.baselines ?? [], compare: opts.compare !== false, historyFile, maintenance: opts.maintenance } satisfies ToWorker);
    });
    // The shutdown signal lives as long as the exporter: one listener per round would pile up.
    return round.finally(() => opts.signal?.removeEventListener('abort', abort));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    // Bounded: a worker that does not stop in 5 s is terminated.
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
