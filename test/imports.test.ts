// The import structure of src/, read from the source text: no files that import each other in a
// loop, and presentation (src/present) below everything that shows a result, so the pages, the
// email and the terminal table share it without importing each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.(ts|mjs)$/.test(e.name) ? [full] : [];
  });
}

// `import … from './x.js'`, `export … from './x.js'`, `import './x.js'` and `import('./x.js')`, over
// several lines too; only relative specifiers name a file of src/.
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*['"](\.[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** File (relative to src/) -> the files of src/ it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)]
      .map((m) => m[1] ?? m[2] ?? m[3])
      .map((spec) => path.relative(SRC, path.resolve(path.dirname(file), spec)).replace(/\.js$/, '.ts'));
    graph.set(path.relative(SRC, file), [...new Set(targets)]);
  }
  return graph;
}

/** Groups of files that reach each other through imports (Tarjan's strongly connected components). */
function loops(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(group.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

test('the import graph is read: it sees the files and imports it checks', () => {
  const graph = importGraph();
  assert.ok(graph.size > 40, `only ${graph.size} files under src/`);
  // One of each form the pattern must catch, so a blind reader cannot pass the tests below.
  assert.ok(graph.get('web/status.ts')?.includes('present/cells.ts'), 'a multi-name import');
  assert.ok(graph.get('digest/build.ts')?.includes('present/summary.ts'), 'an export … from');
  assert.deepEqual(loops(new Map([['a.ts', ['b.ts']], ['b.ts', ['a.ts']], ['c.ts', ['a.ts']]])), [['a.ts', 'b.ts']]);
});

test('no files of src/ import each other in a loop', () => {
  assert.deepEqual(loops(importGraph()), []);
});

test('presentation sits below what shows results: it imports only result types and utilities', () => {
  const graph = importGraph();
  const below = (f: string) => f.startsWith('present/') || f.startsWith('util/') || f === 'types.ts';
  const wrong = [...graph].filter(([f]) => f.startsWith('present/')).flatMap(([f, targets]) => targets.filter((t) => !below(t)).map((t) => `${f} -> ${t}`));
  assert.deepEqual(wrong, []);
});

test('the email does not import the pages, the history does not import the email, and the engine, probes and config import none of them', () => {
  const graph = importGraph();
  const upward = (from: string, to: string[]) =>
    [...graph].filter(([f]) => f.startsWith(from)).flatMap(([f, targets]) => targets.filter((t) => to.some((p) => t.startsWith(p))).map((t) => `${f} -> ${t}`));
  assert.deepEqual(upward('digest/', ['web/']), []);
  assert.deepEqual(upward('store/', ['digest/', 'web/', 'present/']), []);
  // No exception: the round thread's entry point, which wires the inspector to its own connection
  // to the history, is a composition root above the engine (worker/), as cli.ts is the process's.
  for (const low of ['engine/', 'probes/', 'config/', 'present/', 'table.ts']) {
    assert.deepEqual(upward(low, ['web/', 'digest/', 'store/', 'worker/', 'exporter.ts', 'cli.ts']), [], low);
  }
});

test('the call kinds sit between the shared field schemas and the assembled config schema', () => {
  const graph = importGraph();
  // The kinds, and what they are built on, take their field schemas from config/parts.ts; only
  // what runs a configured call (probes/index.ts) and what is above it see the assembled file.
  const belowAssembly = (f: string) => f === 'config/parts.ts' || (f.startsWith('probes/') && f !== 'probes/index.ts') || f.startsWith('http/') || ['expect.ts', 'signers.ts', 'template.ts', 'redact.ts'].includes(f);
  const wrong = [...graph].filter(([f]) => belowAssembly(f)).flatMap(([f, targets]) => targets.filter((t) => t === 'config/schema.ts' || t === 'config/load.ts').map((t) => `${f} -> ${t}`));
  assert.deepEqual(wrong, []);
  assert.ok(graph.get('config/schema.ts')?.includes('probes/registry.ts'), 'the assembled schema is built from the registry');
});

test('traces, SLO rules, maintenance windows and badges keep the places docs/architecture.md gives them', () => {
  const graph = importGraph();
  const outside = (files: (f: string) => boolean, allowed: (t: string) => boolean) =>
    [...graph].filter(([f]) => files(f)).flatMap(([f, targets]) => targets.filter((t) => !allowed(t)).map((t) => `${f} -> ${t}`));
  const base = (t: string) => t === 'types.ts' || t.startsWith('util/');
  // The spans know the tracing config and the redactor, nothing of rounds, history or pages.
  assert.deepEqual(outside((f) => f.startsWith('trace/'), (t) => base(t) || t.startsWith('trace/') || t === 'config/tracing.ts' || t === 'redact.ts'), []);
  // The rules are written from the config alone.
  assert.deepEqual(outside((f) => f.startsWith('slo/'), (t) => base(t) || t.startsWith('slo/') || t.startsWith('config/')), []);
  // When a window is open and what a held service's result is: pure, below the history.
  assert.deepEqual(outside((f) => f === 'engine/maintenance.ts', (t) => base(t) || t.startsWith('config/') || t.startsWith('engine/')), []);
  // The badges read the history and draw with present/: no exporter, no config loading.
  assert.deepEqual(outside((f) => f === 'web/badges.ts', (t) => base(t) || t.startsWith('present/') || t.startsWith('store/')), []);
  // The exporter's windows (top level) sit above engine/ and store/: nothing down there imports them.
  const low = ['engine/', 'store/', 'config/', 'trace/', 'slo/', 'present/', 'probes/', 'digest/'];
  assert.deepEqual(
    [...graph].filter(([f]) => low.some((p) => f.startsWith(p))).flatMap(([f, targets]) => targets.filter((t) => t === 'maintenance.ts').map((t) => `${f} -> ${t}`)),
    [],
  );
  assert.ok(graph.get('maintenance.ts')?.includes('engine/maintenance.ts'), 'the graph sees the top-level maintenance module');
});
