// What the exporter needs from whatever runs its rounds: the Inspector in this thread, or the same
// Inspector in a worker thread (worker/host.ts) so that a round of thousands of services
// never slows a scrape. One interface, so the exporter does not care which.
import type { CounterBaseline, RoundResult, RoundTrigger, ServiceResult } from '../types.js';

export interface RoundOptions {
  trigger: RoundTrigger;
  /** Shutdown: aborts the round cleanly. */
  signal?: AbortSignal;
  /** Only these service ids (all when absent). */
  only?: (serviceId: string) => boolean;
  onServiceDone?: (result: ServiceResult, done: number, total: number) => void;
  /** Services done so far (also called by runners that do not pass each result over). */
  onProgress?: (done: number, total: number) => void;
  /**
   * The last known state of each counter (from earlier rounds, or the history after a restart):
   * each service's first read is compared with it to find usage between rounds.
   */
  baselines?: CounterBaseline[];
  /** false: record the counters but compare none (the first round after a crash mid-round). */
  compare?: boolean;
  /**
   * Services inside a maintenance window, with the result each gets (engine/maintenance.ts): they
   * are not inspected at all, and their results join the round's in the config's order.
   */
  maintenance?: ServiceResult[];
}

export interface RoundRunner {
  runRound(opts: RoundOptions): Promise<RoundResult>;
  close(): Promise<void>;
}
