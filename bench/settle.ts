// Settle efficiency: with metering lag L in {0, 2, 10} s, the round's wall time against the original
// script's fixed 30 s wait, for several poll intervals (default confirm_reads: 1).
//   npx tsx bench/settle.ts [--lags=0,2,10] [--polls=250ms,1s,2s]
import { generateConfig, inspectorFor, startTarget, table } from './common.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const lags = arg('lags', '0,2,10').split(',').map(Number);
const polls = arg('polls', '250ms,1s,2s').split(',');
const FIXED_WAIT_S = 30;

const rows: (string | number)[][] = [];
for (const lag of lags) {
  const target = await startTarget({ LAG_MS: String(lag * 1000) });
  try {
    for (const poll of polls) {
      const inspector = inspectorFor(generateConfig({ services: 1, callsPerService: 1, concurrency: 1, pollInterval: poll, settleTimeout: '30s', confirmReads: 1 }), target.url);
      const round = await inspector.runRound({ trigger: 'cli' });
      await inspector.close();
      const s = round.services[0];
      rows.push([lag, poll, s.verdict, s.settleSeconds ?? NaN, round.durationSeconds, FIXED_WAIT_S, (round.durationSeconds / FIXED_WAIT_S).toFixed(2), lag > 0 ? (round.durationSeconds / lag).toFixed(2) : '-']);
    }
  } finally {
    await target.stop();
  }
}
table('Settle efficiency: one service, one call, confirm_reads 1', ['lag s', 'poll', 'verdict', 'settle s', 'round s', 'fixed wait s', 'round / fixed', 'round / lag'], rows);
