// Each call kind takes its own `expect` and `rejected_when` keys (src/probes/KIND.ts): a key only
// another kind takes is refused at its path, with the kind's reason or the kinds that take it, in
// a file and in a call parsed alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { parseCall, parseCheck } from '../src/config/schema.js';
import { CALL_KINDS } from '../src/probes/registry.js';

const base = `
platforms:
  p:
    login: { http: { url: "http://127.0.0.1:1/login" }, extract: { s: data.s } }
    counter: { http: { url: "http://127.0.0.1:1/usage" }, value: data.n }
services:
  - id: s
    calls:
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 't.yml');
  } catch (err) {
    return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

test('the kinds of the registry are the keys a call may name', () => {
  assert.deepEqual(CALL_KINDS, ['http', 'websocket', 'script']);
  assert.deepEqual(problems(`${base}      - { name: c, ftp: { url: "ftp://x" } }\n`), [
    'services[0].calls[0].ftp: unknown key',
    'services[0].calls[0]: give exactly one of http, websocket, script',
  ]);
});

test('a key of another kind is refused at its path, saying which kinds take it', () => {
  const got = problems(`${base}      - { name: h, http: { url: "http://127.0.0.1:1/x" }, expect: { frames: { min: 2 }, exit_code: 0, status: 200 } }
    auth_checks:
      - { name: a, script: { command: [sh] }, rejected_when: { status: 401, exit_code: 1 } }
      - { name: b, http: { url: "http://127.0.0.1:1/x" }, rejected_when: { first_frame: [{ path: code, equals: 1 }] } }
`);
  assert.deepEqual(got.sort(), [
    'services[0].auth_checks[0].rejected_when.status: not used by script auth checks: a script has an exit code (rejected_when.exit_code); json and body_regex apply to its stdout',
    'services[0].auth_checks[1].rejected_when.first_frame: not used by http auth checks: only websocket auth checks have rejected_when.first_frame',
    'services[0].calls[0].expect.exit_code: not used by http calls: only script calls have expect.exit_code',
    'services[0].calls[0].expect.frames: not used by http calls: only websocket calls have expect.frames',
  ]);
});

test('a call or check parsed alone is held to its kind too, and typed as it', () => {
  assert.throws(() => parseCall('websocket', { name: 'w', websocket: { url: 'ws://127.0.0.1:1/' }, expect: { status: 200 } }), /not used by websocket calls: judge the answer frames/);
  assert.throws(() => parseCheck('script', { name: 'c', script: { command: ['sh'] } }), /a script auth check needs rejected_when\.exit_code, json or body_regex/);
  const ws = parseCall('websocket', { name: 'w', websocket: { url: 'ws://127.0.0.1:1/' }, expect: { frames: { min: 2 } } });
  assert.equal(ws.expect.frames?.min, 2);
  assert.throws(() => parseCall('http', { name: 'w', websocket: { url: 'ws://127.0.0.1:1/' } }), /not a http call/);
});
