// Mutation testing of the core: the modules where a silent bug costs money or leaks a secret.
// Run with `npm run mutation` (every module, one after the other) or `npm run mutation -- verdict auth`
// (scripts/mutation.mjs). Each module is mutated on its own and checked by its own fast,
// network-free tests only, so a run stays short; TESTING.md has the latest scores.
//
// Where only part of a file is in scope, the part is found by the text that opens and closes it
// (not by line numbers), so the range follows the code when lines are added above it.
import { readFileSync } from 'node:fs';

/** `file:first-last` from the first line matching `from` to the first later line matching `to` (inclusive). */
function part(file, from, to) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n');
  const first = lines.findIndex((l) => from.test(l));
  if (first < 0) throw new Error(`${file}: no line matches ${from}`);
  const rest = lines.slice(first + 1).findIndex((l) => to.test(l));
  if (rest < 0) throw new Error(`${file}: no line after ${first + 1} matches ${to}`);
  return `${file}:${first + 1}-${first + 2 + rest}`;
}

/** `file:n-n` for the one line matching `pattern`. */
function line(file, pattern) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n');
  const n = lines.findIndex((l) => pattern.test(l));
  if (n < 0) throw new Error(`${file}: no line matches ${pattern}`);
  return `${file}:${n + 1}-${n + 1}`;
}

/** Module name -> the code mutated and the test files that judge it. */
export const modules = {
  verdict: { mutate: ['src/engine/verdict.ts'], tests: ['test/verdict.test.ts'] },
  expect: { mutate: ['src/expect.ts'], tests: ['test/expect.test.ts'] },
  redact: { mutate: ['src/redact.ts'], tests: ['test/redact-unit.test.ts'] },
  share: { mutate: ['src/config/share.ts'], tests: ['test/config-share.test.ts'] },
  // The duration bounds only: the rest of the schema is declarations that the config tests load.
  schema: {
    mutate: [part('src/config/parts.ts', /^export function duration\(/, /^}$/), part('src/config/parts.ts', /^function boundMs\(/, /^}$/), part('src/config/parts.ts', /^const OFFSET_MAX_MS/, /x-duration.*signed/)],
    tests: ['test/duration-bounds.test.ts'],
  },
  // The rendering and the counting behind it (the HELP texts of the families table are prose), and
  // the lines a result makes, which the round worker writes.
  metrics: {
    mutate: [
      part('src/metrics.ts', /^function crcOf\(/, /^}$/),
      part('src/metrics.ts', /^function deflatedForm\(/, /^}$/),
      part('src/metrics.ts', /^function joinedRuns\(/, /^}$/),
      part('src/metrics.ts', /^export class PatrolMetrics/, /^}$/),
      part('src/metrics.ts', /^export function toOpenMetrics/, /^}$/),
      part('src/exposition.ts', /^export function esc\(/, /^}$/),
      part('src/exposition.ts', /^export function num\(/, /^}$/),
      part('src/exposition.ts', /^function linesOf\(/, /^}$/),
      part('src/exposition.ts', /^export function resultLines\(/, /^}$/),
      part('src/exposition.ts', /^export function rangeOf\(/, /^}$/),
    ],
    tests: ['test/metrics-render.test.ts', 'test/metrics-open.test.ts', 'test/exposition.test.ts'],
  },
  // What is written when a round is saved (rows, compact ok verdicts, the hour's rollups) and how it
  // is read back: rounds, and the rows the day's figures are computed from (dayRows).
  store: {
    mutate: [
      line('src/store/sqlite.ts', /^const bool = /),
      line('src/store/sqlite.ts', /^const flag = /),
      part('src/store/sqlite.ts', /^function fromRow\(/, /^}$/),
      part('src/store/sqlite.ts', /^function rollupOfRow\(/, /^}$/),
      part('src/store/sqlite.ts', /^function rowOfRollup\(/, /^}$/),
      part('src/store/sqlite.ts', /const saveTx = this\.db\.transaction/, /^    }\);$/),
      part('src/store/sqlite.ts', /^  private addToRollups\(/, /^  }$/),
      part('src/store/sqlite.ts', /^  save\(round/, /^  }$/),
      part('src/store/sqlite.ts', /^  dayRows\(/, /^  }$/),
      part('src/store/sqlite.ts', /^export function verdictParams\(/, /^}$/),
      'src/store/compact.ts',
    ],
    tests: ['test/store-figures.test.ts'],
  },
  // The day's figures: one owner (digest/query.ts) over the hourly rollups (store/rollup.ts).
  digest: { mutate: ['src/digest/query.ts', 'src/store/rollup.ts'], tests: ['test/digest-figures.test.ts'] },
  auth: { mutate: ['src/web/auth.ts'], tests: ['test/auth-levels.test.ts'] },
  // Settling the counter after the calls (the inspector's private settle loop, its quiet period and
  // lag memory, and where the round takes its settle time from), judged against the simulator.
  settle: {
    mutate: [
      part('src/engine/inspector.ts', /^  private settleOf\(/, /^  }$/),
      part('src/engine/inspector.ts', /^    if \(before\.ok\) \{$/, /^    }$/),
      line('src/engine/inspector.ts', /if \(j\.verdict === 'ok' && settleSeconds !== null\) this\.rememberLag/),
      line('src/engine/inspector.ts', /settleSeconds: j\.meteringOk \? settleSeconds : null/),
      part('src/engine/inspector.ts', /^  learntLagSeconds\(/, /^  }$/),
      part('src/engine/inspector.ts', /^  private rememberLag\(/, /^  }$/),
      part('src/engine/inspector.ts', /^  private async settle\(/, /^  }$/),
    ],
    // The settle span's lines sit inside the settle code: the tracing test judges them.
    tests: ['test/settle.test.ts', 'test/tracing.test.ts'],
  },
};

const name = process.env.MUTATION_MODULE ?? 'verdict';
const chosen = modules[name];
if (!chosen) throw new Error(`unknown mutation module ${name}: one of ${Object.keys(modules).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  tap: {
    testFiles: chosen.tests,
    // The test file is run directly (not under `--test`), so it runs in this one process, where
    // Stryker's hook records which mutants it reached; node:test writes TAP when not on a terminal.
    nodeArgs: ['-r', '{{hookFile}}', '--import', 'tsx', '{{testFile}}'],
    forceBail: true,
  },
  mutate: chosen.mutate,
  coverageAnalysis: 'perTest',
  // The machine is shared: two sandboxes at most.
  concurrency: 2,
  timeoutMS: 10000,
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['dist', 'reports', 'test-output', 'bench/out', '*.db', '*.db-wal', '*.db-shm'],
  reporters: ['clear-text', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, allowEmojis: false, reportScoreTable: true, reportMutants: true, skipFull: true },
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${name}.json`,
  cleanTempDir: 'always',
  logLevel: 'info',
};
