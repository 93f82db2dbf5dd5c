// Reading a config a top-level key and a service at a time gives the same values as reading the
// whole document, and hands back to the whole reading whenever the file is not plainly laid out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { readInPieces } from '../src/config/yaml-pieces.js';
import { parseConfig, ConfigError } from '../src/config/load.js';

const service = (i: number, indent = '  ') =>
  [
    `${indent}- id: svc-${i}   # a comment`,
    `${indent}  app_id: app`,
    `${indent}  business_id: "b-${i}"`,
    '',
    '# a comment at the left margin between items',
    `${indent}  calls:`,
    `${indent}    - name: c`,
    `${indent}      http: { method: POST, url: "{{vars.target}}/v1",`,
    `${indent}        json: { n: ${i} } }`,
    `${indent}      expect:`,
    `${indent}        status: 200`,
    `${indent}        body_contains: |`,
    `${indent}          line one`,
    '',
    `${indent}          - not an item, part of the text`,
  ].join('\n');

const head = [
  '# patrol config',
  '',
  'vars: { target: "http://127.0.0.1:1" }',
  'platforms:',
  '  p:',
  '    login:',
  '      http: { method: POST, url: "{{vars.target}}/login" }',
  '      extract: { sid: data.sid }',
  '    counter:',
  '      http: { url: "{{vars.target}}/usage" }',
  '      value: data.n',
].join('\n');

const layouts: Record<string, string> = {
  'list indented under services': `${head}\nservices:\n${[0, 1, 2].map((i) => service(i)).join('\n')}\n`,
  'list at the key\'s indentation': `${head}\nservices:   # three\n${[0, 1, 2].map((i) => service(i, '')).join('\n')}\n`,
  'services first, CRLF line ends': `services:\n${[0, 1].map((i) => service(i)).join('\n')}\n${head}\n`.replace(/\n/g, '\r\n'),
  'services as a flow list': `${head}\nservices: [ { id: a, app_id: x, business_id: y,\n  calls: [] } ]\n`,
  'kept line ends of block text, no line end at the end of the file': `note: |+\n  kept\n\n# c\n${head}\nservices:\n  - |+\n    x\n\n  - |+\n    y`,
  'an item that is a bare dash': `${head}\nservices:\n  -\n    id: a\n  - id: b\n`,
};

for (const [name, text] of Object.entries(layouts)) {
  test(`in pieces, ${name}: the same values as the whole document`, () => {
    const pieces = readInPieces(text);
    assert.notEqual(pieces, undefined, 'this layout is read in pieces');
    assert.deepEqual(pieces, parse(text));
  });
}

const notPlain: Record<string, string> = {
  'a document marker': `---\n${head}\n`,
  'a directive': `%YAML 1.2\n---\n${head}\n`,
  'a quoted top-level key': `${head}\n"services": []\n`,
  'a key written twice': `${head}\nvars: {}\n`,
  'a second document': `${head}\n---\nvars: {}\n`,
  'a bare scalar at the margin': `${head}\nstray\n`,
  'content before the first key': `  indented: 1\n${head}\n`,
  'a quoted string running into the next item': `${head}\nservices:\n  - id: "a\n  - b"\n`,
  'an item less indented than the first': `${head}\nservices:\n    - id: a\n  - id: b\n`,
  'a tab before an item': `${head}\nservices:\n  - id: a\n\t- id: b\n`,
  'a broken piece': `${head}\nservices:\n  - id: a\n    id: b\n`,
  '__proto__ as a key': `${head}\n__proto__: {}\n`,
  'an empty file': '',
};

for (const [name, text] of Object.entries(notPlain)) {
  test(`not in pieces: ${name}`, () => {
    assert.equal(readInPieces(text), undefined);
  });
}

test('a file read in pieces still reports every problem with its line, found in the whole document', () => {
  const text = `${head}\nservices:\n${[0, 1, 2].map((i) => service(i)).join('\n')}\n  - id: svc-3\n    app_id: app\n    business_id: b\n    colour: red\n    calls: []\n`;
  assert.notEqual(readInPieces(text), undefined);
  const lines = text.split('\n');
  const err = (() => {
    try {
      parseConfig(text, 'pieces.yml', { env: {} });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof ConfigError);
  const colour = err.problems.find((p) => p.path === 'services[3].colour');
  assert.deepEqual(colour, { path: 'services[3].colour', message: 'unknown key', line: lines.indexOf('    colour: red') + 1 });
});
