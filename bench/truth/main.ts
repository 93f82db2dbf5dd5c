// `npm run truth [-- --calendar=short]`: replays the fault calendar through the whole stack, prints
// the score table, exits 1 when a goal is missed (2 when the run itself could not be done).
import { CALENDARS } from './calendar.js';
import { runTruth } from './run.js';

const arg = process.argv.slice(2).find((a) => a.startsWith('--calendar='));
const name = arg ? arg.slice('--calendar='.length) : 'full';
const cal = CALENDARS[name];
if (!cal) {
  process.stderr.write(`--calendar: unknown calendar ${JSON.stringify(name)} (known: ${Object.keys(CALENDARS).join(', ')})\n`);
  process.exit(2);
}
try {
  const result = await runTruth(cal, { say: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${result.text}\n`);
  process.exit(result.score.missed === 0 ? 0 : 1);
} catch (err) {
  process.stderr.write(`truth: ${(err as Error).message}\n`);
  process.exit(2);
}
