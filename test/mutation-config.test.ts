// `npm run mutation` is too long for CI, so nothing else would notice when a refactor moves the code
// a mutation module names: stryker.config.mjs finds its parts by text at import time and throws
// when one is gone. Importing it here, and checking every file it names, keeps the run startable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

test('every mutation module names code and tests that exist', async () => {
  const { modules } = (await import(new URL('../stryker.config.mjs', import.meta.url).href)) as { modules: Record<string, { mutate: string[]; tests: string[] }> };
  assert.ok(Object.keys(modules).length >= 8, Object.keys(modules).join(', '));
  for (const [name, m] of Object.entries(modules)) {
    assert.ok(m.mutate.length > 0 && m.tests.length > 0, name);
    for (const spec of m.mutate) {
      const [file, range] = spec.split(':');
      assert.ok(existsSync(file), `${name}: ${file} does not exist`);
      if (range) {
        const [from, to] = range.split('-').map(Number);
        assert.ok(from >= 1 && to >= from, `${name}: ${spec} is not a range`);
      }
    }
    for (const t of m.tests) assert.ok(existsSync(t), `${name}: ${t} does not exist`);
  }
});
