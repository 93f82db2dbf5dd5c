#!/usr/bin/env -S node --max-semi-space-size=4
// The `patrol` command (package.json "bin"): runs the compiled dist/cli.js, which starts in a
// fraction of a second (compiling TypeScript at every start takes seconds).
// In a checkout (src/ is here), dist/ is rebuilt first when it is missing or older than a file
// under src/ (after an edit, a pull or a merge), so `npx patrol` always runs the code in front of
// you. An installed package ships dist/ and no src/: nothing is checked, nothing is built.
// The shebang's --max-semi-space-size=4 caps the serving thread's young generation at 2 x 4 MB, where
// V8 grows it to 2 x 16 MB: `serve` at 5,000 services peaks ~30 MB lower, for no CPU we could
// measure (BENCHMARKS.md, "The serving thread's young generation"). The round thread keeps its own
// (src/worker/host.ts). Every way of starting the exporter gives the flag: package.json's scripts,
// the Dockerfile's ENTRYPOINT, the Kubernetes example (test/heap.test.ts checks they agree).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node 22.1 and later keep compiled code between runs (a faster start); Node 20 has no such cache.
module.enableCompileCache?.();

const root = new URL('../', import.meta.url);
const src = fileURLToPath(new URL('src/', root));
const stamp = fileURLToPath(new URL('dist/build-info.json', root));

/** The newest modification time under a directory (a few hundred files: a few milliseconds). */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs);
  }
  return latest;
}

if (existsSync(src)) {
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  const configs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(fileURLToPath(new URL(f, root))).mtimeMs);
  if (built < Math.max(newest(src), ...configs)) {
    process.stderr.write(built === 0 ? 'patrol: compiling src/ to dist/ (first run)\n' : 'patrol: compiling src/ to dist/ (src/ changed since the last build)\n');
    const build = spawnSync(process.execPath, [fileURLToPath(new URL('scripts/build.mjs', root))], { stdio: ['ignore', 2, 2] });
    if (build.status !== 0) process.exit(1);
  }
}

// npx and `npm start` run this under `sh -c` and forward SIGTERM and SIGINT to that shell only: the
// shell dies and this process would go on serving its port, orphaned. So when npm started us
// (npm_command is set) and our parent changes, the shell is gone: stop as on SIGTERM.
if (process.env.npm_command) {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 200);
  watch.unref();
}

await import('../dist/cli.js');
