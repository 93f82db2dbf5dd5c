// npm run mutation [-- module ...]: mutation testing of the core, one module after the other
// (stryker.config.mjs lists them), then one line per module: score and counts. Too long for CI;
// the latest figures go to TESTING.md ("Mutation testing").
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { modules } from '../stryker.config.mjs';

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in modules));
if (unknown.length > 0) {
  console.error(`npm run mutation: unknown module ${unknown.join(', ')}; the modules are ${Object.keys(modules).join(', ')}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : Object.keys(modules);

/** Counts by status from Stryker's JSON report (mutation-testing-report-schema). */
function counts(name) {
  const report = JSON.parse(readFileSync(`reports/mutation/${name}.json`, 'utf8'));
  const c = { Killed: 0, Survived: 0, Timeout: 0, NoCoverage: 0, RuntimeError: 0, CompileError: 0, Ignored: 0 };
  for (const file of Object.values(report.files)) for (const m of file.mutants) c[m.status] = (c[m.status] ?? 0) + 1;
  return c;
}

const rows = [];
let failed = false;
for (const name of names) {
  const started = Date.now();
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs'], { stdio: 'inherit', env: { ...process.env, MUTATION_MODULE: name } });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (run.status !== 0) {
    failed = true;
    rows.push(`${name}: stryker failed (exit ${run.status ?? run.signal}) after ${seconds} s`);
    continue;
  }
  const c = counts(name);
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage;
  const score = valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(2)} %`;
  rows.push(`${name}: ${score} (killed ${c.Killed}, timeout ${c.Timeout}, survived ${c.Survived}, no coverage ${c.NoCoverage}, errors ${c.RuntimeError + c.CompileError}) in ${seconds} s`);
}
console.log(`\nMutation scores (${new Date().toISOString()}):\n${rows.map((r) => `  ${r}`).join('\n')}`);
process.exit(failed ? 1 : 0);
