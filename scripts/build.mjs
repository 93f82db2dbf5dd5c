#!/usr/bin/env node
// `npm run build`, and `prepare` (npm runs it on `npm install` in a checkout and when packing):
// compile src/ to dist/, then write dist/build-info.json with the git revision, which an installed
// package or an image (no .git there) reports on `--version` and `patrol_build_info`.
// PATROL_REVISION overrides git (the Docker build passes it: .git is not in the build context).
// Written to stderr only, so that `patrol --version` keeps a clean stdout when bin/patrol.js rebuilds.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('build: typescript is not installed (a dev dependency): run `npm install` without --omit=dev\n');
  process.exit(1);
}
// tsconfig.build.json has noEmitOnError: a type error leaves the previous dist/ (and its stamp) alone.
const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 2, 2] });
if (build.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${build.status ?? build.signal}); dist/ not updated\n`);
  process.exit(1);
}

function revision() {
  if (process.env.PATROL_REVISION) return process.env.PATROL_REVISION;
  if (!existsSync(new URL('../.git', import.meta.url))) return 'unknown';
  const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 10_000 });
  return git.status === 0 && /^[0-9a-f]{40}$/.test(git.stdout.trim()) ? git.stdout.trim() : 'unknown';
}

// Written last: bin/patrol.js takes its time as the time of the last successful build.
writeFileSync(new URL('../dist/build-info.json', import.meta.url), `${JSON.stringify({ revision: revision() })}\n`);
