// Writes schema/patrol.schema.json and docs/config.md from the config schema (src/config/reference.ts).
// `--check` writes nothing and exits 1 when either committed file differs from what would be written.
import { readFileSync, writeFileSync } from 'node:fs';
import { REFERENCE_FILE, SCHEMA_FILE, configJsonSchema, configJsonSchemaText, configReferenceMarkdown } from '../src/config/reference.js';

const check = process.argv.includes('--check');
const outputs: [string, string][] = [
  [SCHEMA_FILE, configJsonSchemaText()],
  [REFERENCE_FILE, configReferenceMarkdown(configJsonSchema())],
];
let stale = 0;
for (const [file, text] of outputs) {
  let current: string | null = null;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = null;
  }
  if (current === text) continue;
  if (check) {
    process.stderr.write(`${file} is stale: run npm run gen:config-docs\n`);
    stale++;
  } else {
    writeFileSync(file, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exit(stale > 0 ? 1 : 0);
