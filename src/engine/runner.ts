// What the exporter needs from whatever runs its rounds: the Inspector in this thread, or the same
// Inspector in a worker thread (engine/worker-host.ts) so that a round of thousands of services
// never slows a scrape. One interface, so the exporter does not care which.
import type { RoundResult } from '../types.js';
import type { RoundOptions } from './inspector.js';

export interface RoundRunner {
  runRound(opts: RoundOptions): Promise<RoundResult>;
  close(): Promise<void>;
}
