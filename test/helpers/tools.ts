// Finds the external tools some tests need (promtool, amtool, prometheus, chromium, ...).
//
// requireTool() looks the binary up on PATH and in the usual system directories. When it is
// missing it runs scripts/ensure-tools.sh once per process for it (which installs the Debian
// package when running as root with apt-get). If the tool is still missing:
//   - in CI (CI=true) or with PATROL_REQUIRE_TOOLS=1 it throws, so the run fails loudly;
//   - otherwise it skips the test with a message saying how to install the tool, and prints a
//     loud line on stderr, so a local run without the tool cannot look like a full pass.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export type ToolName =
  | 'promtool'
  | 'prometheus'
  | 'amtool'
  | 'alertmanager'
  | 'chromium'
  | 'blackbox_exporter';

interface ToolSpec {
  /** Executable names to look for, in order of preference. */
  binaries: string[];
  /** Argument for scripts/ensure-tools.sh. */
  ensure: 'prometheus' | 'alertmanager' | 'chromium' | 'blackbox';
  /** Debian package, for the install hint. */
  debianPackage: string;
}

const TOOLS: Record<ToolName, ToolSpec> = {
  promtool: { binaries: ['promtool'], ensure: 'prometheus', debianPackage: 'prometheus' },
  prometheus: { binaries: ['prometheus'], ensure: 'prometheus', debianPackage: 'prometheus' },
  amtool: { binaries: ['amtool'], ensure: 'alertmanager', debianPackage: 'prometheus-alertmanager' },
  alertmanager: {
    binaries: ['prometheus-alertmanager', 'alertmanager'],
    ensure: 'alertmanager',
    debianPackage: 'prometheus-alertmanager',
  },
  chromium: {
    binaries: ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'],
    ensure: 'chromium',
    debianPackage: 'chromium',
  },
  blackbox_exporter: {
    binaries: ['prometheus-blackbox-exporter', 'blackbox_exporter'],
    ensure: 'blackbox',
    debianPackage: 'prometheus-blackbox-exporter',
  },
};

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENSURE_SCRIPT = join(REPO_ROOT, 'scripts', 'ensure-tools.sh');
const EXTRA_DIRS = ['/usr/bin', '/usr/local/bin', '/bin', '/usr/sbin'];

/** ensure-tools.sh arguments already tried in this process, with what the script said. */
const ensured = new Map<string, string>();

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of the first of `binaries` found on PATH or in the system directories. */
export function findBinary(binaries: readonly string[]): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const bin of binaries) {
    for (const dir of dirs) {
      const candidate = join(dir, bin);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

function runEnsure(arg: string): string {
  const done = ensured.get(arg);
  if (done !== undefined) return done;
  const res = spawnSync('bash', [ENSURE_SCRIPT, arg], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    // apt-get may wait for another install to finish.
    timeout: 15 * 60 * 1000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = [res.stdout, res.stderr, res.error ? String(res.error) : '']
    .filter((s) => s && s.trim() !== '')
    .join('\n')
    .trim();
  if (out) process.stderr.write(out.endsWith('\n') ? out : `${out}\n`);
  ensured.set(arg, out);
  return out;
}

function mustHaveTools(): boolean {
  return process.env.CI === 'true' || process.env.PATROL_REQUIRE_TOOLS === '1';
}

/**
 * The path of `name`'s binary, installing it first when possible. When it is not available the
 * test is skipped (returns null; the caller must return) or, in CI / with
 * PATROL_REQUIRE_TOOLS=1, an Error is thrown.
 */
export function requireTool(t: TestContext, name: ToolName): string | null {
  const spec = TOOLS[name];
  if (!spec) throw new Error(`requireTool: unknown tool ${JSON.stringify(name)}`);

  const found = findBinary(spec.binaries);
  if (found) return found;

  const ensureOutput = runEnsure(spec.ensure);
  const afterEnsure = findBinary(spec.binaries);
  if (afterEnsure) return afterEnsure;

  const install = `apt-get install -y --no-install-recommends ${spec.debianPackage} (or: sudo scripts/ensure-tools.sh ${spec.ensure})`;
  const why = ensureOutput
    ? `scripts/ensure-tools.sh ${spec.ensure} could not install it: ${ensureOutput.split('\n').pop()}`
    : `scripts/ensure-tools.sh ${spec.ensure} did not install it`;
  const looked = `looked for ${spec.binaries.join(', ')} on PATH and in ${EXTRA_DIRS.join(', ')}`;

  if (mustHaveTools()) {
    const reason = process.env.CI === 'true' ? 'CI=true' : 'PATROL_REQUIRE_TOOLS=1';
    throw new Error(
      `${name} is required (${reason}) but was not found: ${looked}; ${why}. Install with: ${install}`,
    );
  }

  const message = `SKIPPED: ${name} not found (${looked}; ${why}); install with: ${install}`;
  process.stderr.write(`\n!!!!!!!! ${message}\n\n`);
  t.skip(message);
  return null;
}
