// What is running: the package version, the source revision and the Node.js version, for
// `patrol --version` and `patrol_build_info`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  /** The git commit the code was built from; "unknown" when nothing says. */
  revision: string;
  nodejs: string;
}

/** The package directory: the parent of src/ or dist/. */
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

function readJson(url: URL): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The package version, read from package.json beside src/ or dist/. */
export const VERSION: string = String(readJson(new URL('../package.json', import.meta.url))?.version ?? 'unknown');

/**
 * In a git checkout the working tree is what runs (bin/patrol.js rebuilds dist/ when src/ changed),
 * so git says the revision now; a build-info file written at build time would go stale after a
 * commit that does not touch src/. An installed package or an image has no .git: the file
 * scripts/build.mjs wrote into dist/ says it.
 */
function revision(): string {
  if (existsSync(new URL('../.git', import.meta.url))) {
    const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 5_000 });
    const sha = git.status === 0 ? git.stdout.trim() : '';
    if (/^[0-9a-f]{40}$/.test(sha)) return sha;
  }
  const built = readJson(new URL('./build-info.json', import.meta.url))?.revision;
  return typeof built === 'string' && built !== '' ? built : 'unknown';
}

let cached: BuildInfo | null = null;

/** Computed on first use (it may ask git), then kept. */
export function buildInfo(): BuildInfo {
  cached ??= { version: VERSION, revision: revision(), nodejs: process.version };
  return cached;
}

/** `patrol --version`: one line, like other Prometheus exporters print it. */
export function versionText(info = buildInfo()): string {
  return `patrol_exporter, version ${info.version} (revision: ${info.revision}) nodejs: ${info.nodejs}`;
}
