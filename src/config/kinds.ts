// The load-time rules of each kind of call, one entry per kind: what its calls may expect and its
// auth checks call refused, whether it is signed, the template names it adds, and the files it
// names. A Record over the call kinds, so a new kind cannot be left without its rules. (What a kind
// does when it runs is its probe, registered in src/probes/index.ts.)
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import type { CallKind } from '../types.js';
import type { AuthCheckConfig, CallConfig, Expectation } from './schema.js';

export type Steps = (string | number)[];
export type Add = (steps: Steps, message: string) => void;
type Rejection = AuthCheckConfig['rejected_when'];

export interface KindRules {
  /** Why a call of this kind is never signed (absent: it may be). */
  unsigned?: string;
  /** Keys of `expect` a call of this kind does not use, each with why (checked in this order). */
  expectUnused: Partial<Record<keyof Expectation, string>>;
  /** Keys of `rejected_when` an auth check of this kind does not use, each with why. */
  rejectionUnused: Partial<Record<keyof Rejection, string>>;
  /** What an auth check of this kind lacks to tell a refusal (null: nothing). */
  rejectionLacks?: (r: Rejection) => string | null;
  /** Template names this kind fills besides the service's (a WebSocket stream's {{chunk}}). */
  templateNames?: string[];
  /**
   * Relative paths of its request made absolute from the config file's folder (the probes never
   * depend on the process's working directory), and checked, so check-config finds a missing one.
   */
  resolveFiles?: (c: CallConfig | AuthCheckConfig, steps: Steps, baseDir: string, add: Add) => void;
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code ?? 'error';

const http: KindRules = {
  expectUnused: { frames: 'only WebSocket calls have frames', exit_code: 'only script calls have an exit code' },
  rejectionUnused: { first_frame: 'only WebSocket auth checks have frames', exit_code: 'only script auth checks have an exit code' },
};

const FRAMES_INSTEAD = 'judge the answer frames with expect.frames (each, final, any, min, max_first_frame)';
const websocket: KindRules = {
  expectUnused: { status: FRAMES_INSTEAD, json: FRAMES_INSTEAD, body_regex: FRAMES_INSTEAD, body_not_regex: FRAMES_INSTEAD, exit_code: FRAMES_INSTEAD },
  rejectionUnused: { exit_code: 'only script auth checks have an exit code' },
  // The current payload chunk: empty outside a stream's frames.
  templateNames: ['chunk'],
  resolveFiles: (c, steps, baseDir, add) => {
    c.websocket!.send.forEach((step, i) => {
      if (!step.stream) return;
      const where = [...steps, 'websocket', 'send', i, 'stream', 'file'];
      step.stream.file = path.resolve(baseDir, step.stream.file);
      try {
        if (!statSync(step.stream.file).isFile()) add(where, `${step.stream.file} is not a file`);
      } catch (err) {
        add(where, `cannot read ${step.stream.file}: ${errno(err)}`);
      }
    });
  },
};

const script: KindRules = {
  unsigned: 'script calls are not signed: pass the credentials in script.env',
  expectUnused: { frames: 'only WebSocket calls have frames', status: 'a script has an exit code (expect.exit_code); json and body_regex apply to its stdout' },
  rejectionUnused: { first_frame: 'only WebSocket auth checks have frames' },
  rejectionLacks: (r) =>
    r.exit_code === undefined && r.json.length === 0 && r.body_regex === undefined ? 'a script auth check needs rejected_when.exit_code, json or body_regex (on stdout)' : null,
  resolveFiles: (c, steps, baseDir, add) => {
    const spec = c.script!;
    const cwd = path.resolve(baseDir, spec.cwd ?? '.');
    spec.cwd = cwd;
    try {
      if (!statSync(cwd).isDirectory()) add([...steps, 'script', 'cwd'], `${cwd} is not a folder`);
    } catch (err) {
      add([...steps, 'script', 'cwd'], `cannot use ${cwd}: ${errno(err)}`);
    }
    // A program named by a path is checked now; one found on PATH (or made by a template) when it runs.
    const program = spec.command[0];
    if (program.includes('/') && !program.includes('{{')) {
      try {
        accessSync(path.resolve(cwd, program), fsConstants.X_OK);
      } catch (err) {
        add([...steps, 'script', 'command', 0], `${program} (from ${cwd}) is not an executable file: ${errno(err)}`);
      }
    }
  },
};

export const KIND_RULES: Record<CallKind, KindRules> = { http, websocket, script };
