// The round thread's entry point (a composition root above the engine, as cli.ts is the process's):
// the worker thread side of WorkerHost, an Inspector driven by messages. Results are redacted here
// (the worker holds the secrets it needs) before they cross to the main thread. When asked, the
// worker also saves each round to the history file, so the serving thread never writes it.
import { parentPort } from 'node:worker_threads';
import type { LoadedConfig } from '../config/load.js';
import { createLogger, logFormatOf, type LogFormat } from '../log.js';
import { Redactor } from '../redact.js';
import { Inspector } from '../engine/inspector.js';
import { resultLines } from '../exposition.js';
import type { RoundResult, ServiceResult } from '../types.js';
import type { SqliteStore } from '../store/sqlite.js';
import type { FromWorker, SaveOutcome, ToWorker } from './host.js';

/** Service results sent to the main thread at most this many at once, and at most this late. */
const BATCH = 100;
const BATCH_MS = 50;

const port = parentPort!;
const redactor = new Redactor();
let logger = createLogger(redactor);
let inspector: Inspector | null = null;
let running: { id: number; abort: AbortController } | null = null;
const send = (m: FromWorker) => port.postMessage(m);

function configure(loaded: LoadedConfig, logLevel: string, logFormat: LogFormat): void {
  for (const s of loaded.secrets) redactor.add(s);
  if (logger.level !== logLevel || logFormatOf(logger) !== logFormat) logger = createLogger(redactor, logLevel, process.stderr, logFormat);
  const previous = inspector;
  inspector = new Inspector({ config: loaded.config, secrets: loaded.secrets, logger, redactor });
  if (previous) {
    inspector.inheritLags(previous);
    // A round in flight keeps its inspector until it ends.
    if (!running) void previous.close();
    else pendingClose.push(previous);
  }
}
const pendingClose: Inspector[] = [];

/** This thread's connection to the history file, opened at the first save (loaded only then). */
let history: { file: string; store: SqliteStore } | null = null;

async function save(file: string, round: RoundResult): Promise<SaveOutcome> {
  try {
    if (history?.file !== file) {
      history?.store.close();
      history = null;
      const { SqliteStore } = await import('../store/sqlite.js');
      history = { file, store: new SqliteStore(file) };
    }
    history.store.save(round);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: redactor.redact((err as Error).message) };
  }
}

async function run({ id, trigger, only, baselines, compare, historyFile, maintenance }: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  if (!inspector) return send({ type: 'failed', id, message: 'not configured' });
  const abort = new AbortController();
  running = { id, abort };
  const allowed = only ? new Set(only) : null;
  let lastProgress = 0;
  let batch: ServiceResult[] = [];
  let batchTimer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (batchTimer) clearTimeout(batchTimer);
    batchTimer = null;
    if (batch.length === 0) return;
    send({ type: 'services', id, results: batch });
    batch = [];
  };
  try {
    const result = await inspector.runRound({
      trigger,
      baselines,
      compare,
      maintenance,
      signal: abort.signal,
      only: allowed ? (sid) => allowed.has(sid) : undefined,
      onServiceDone: (r, done, total) => {
        // Results cross in small batches spread over the round (every BATCH_MS or BATCH results),
        // not thousands at once at its end (a long pause for the main thread), nor one message
        // each (5,000 messages a round at 5,000 services; batched, about 50).
        batch.push(r);
        if (batch.length >= BATCH) flush();
        else batchTimer ??= setTimeout(flush, BATCH_MS);
        // The count, throttled: the status page only shows it.
        const now = Date.now();
        if (now - lastProgress >= 100 || done === total) {
          lastProgress = now;
          send({ type: 'progress', id, done, total });
        }
      },
    });
    flush();
    const saved = historyFile ? await save(historyFile, result) : null;
    // With the services' /metrics lines, written here (this thread has the results) in the round's
    // order, so that they join into one run of bytes per family, and handed over without a copy:
    // the serving thread joins them instead of writing them (exposition.ts).
    const lines = resultLines(result.services);
    const done: FromWorker = { type: 'done', id, result: { ...result, services: [] }, order: result.services.map((s) => s.serviceId), lines, saved };
    port.postMessage(done, [lines.bytes.buffer as ArrayBuffer, lines.ends.buffer as ArrayBuffer]);
  } catch (err) {
    flush();
    send({ type: 'failed', id, message: redactor.redact((err as Error).message) });
  } finally {
    running = null;
    for (const old of pendingClose.splice(0)) void old.close();
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'configure':
      configure(m.loaded, m.logLevel, m.logFormat);
      break;
    case 'run':
      void run(m);
      break;
    case 'abort':
      if (running?.id === m.id) running.abort.abort(new Error(m.reason));
      break;
    case 'close':
      void (inspector?.close() ?? Promise.resolve()).finally(() => {
        history?.store.close();
        port.close();
      });
      break;
  }
});
