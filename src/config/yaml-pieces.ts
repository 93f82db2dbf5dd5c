// Reading a large config in pieces. yaml's parser builds the syntax tree of the whole document
// before composing it (~150 MB of heap for a 2 MB file of 5,000 services), and the Document after
// it; read a top-level key, and a service, at a time, and only the plain values stay.
//
// This is a fast path only: whenever a file is not plainly laid out (aliases, directives, several
// documents, keys that are not plain names, a piece that does not read cleanly on its own) it
// answers undefined and the whole document is read as before, so every error message and line
// comes from the whole-document reading.
import { isMap, isSeq, parseDocument } from 'yaml';

/** A top-level key the way a config writes it: a plain name, a colon, then space or nothing. */
const TOP_KEY = /^[A-Za-z_][A-Za-z0-9_-]*[ \t]*:(?:[ \t]|\r?$)/;
/** `services:` with nothing after it but a comment: its block list can be read an item at a time. */
const LIST_HEADER = /^services[ \t]*:[ \t]*(?:#.*)?\r?$/;

const isBlankOrComment = (line: string): boolean => /^[ \t]*(?:#.*)?\r?$/.test(line);

/** One piece read alone: no errors, and the expected shape; undefined otherwise. */
function readPiece(text: string, shape: 'one-key map' | 'one-item list'): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) return undefined;
  if (shape === 'one-key map' ? !isMap(doc.contents) || doc.contents.items.length !== 1 : !isSeq(doc.contents) || doc.contents.items.length !== 1) return undefined;
  return doc.toJS();
}

/** The items of `services:` one by one; undefined if the list is not a plain block list. */
function readList(lines: string[], cut: (from: number, to: number) => string): unknown[] | undefined {
  const first = lines.findIndex((l) => !isBlankOrComment(l));
  if (first < 0) return undefined;
  const indent = /^( *)-(?:[ \t]|\r?$)/.exec(lines[first])?.[1].length;
  if (indent === undefined) return undefined;
  const starts: number[] = [];
  for (let i = first; i < lines.length; i++) {
    const line = lines[i];
    if (isBlankOrComment(line)) continue;
    const lead = /^ */.exec(line)![0].length;
    if (lead > indent) continue;
    // A tab where the indentation is, or content as far left as the dash that is not a new item:
    // not plainly laid out.
    if (lead < indent || !/^-(?:[ \t]|\r?$)/.test(line.slice(lead))) return undefined;
    starts.push(i);
  }
  const items: unknown[] = [];
  for (let k = 0; k < starts.length; k++) {
    const piece = readPiece(cut(starts[k], starts[k + 1] ?? lines.length), 'one-item list');
    if (piece === undefined) return undefined;
    items.push((piece as unknown[])[0]);
  }
  return items;
}

/**
 * The file's plain values read in pieces, or undefined when the file must be read whole. Call it
 * only on a file without aliases (an alias may name an anchor in another piece, and the alias limit
 * counts over the whole document).
 */
export function readInPieces(text: string): Record<string, unknown> | undefined {
  const lines = text.split('\n');
  // Pieces are cut from the text itself, so that each ends exactly as it did in the file.
  const offsets: number[] = [0];
  for (const line of lines) offsets.push(offsets[offsets.length - 1] + line.length + 1);
  const cut = (from: number, to: number) => text.slice(offsets[from], offsets[to]);
  const starts: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (isBlankOrComment(line) || /^[ \t]/.test(line)) continue;
    if (/^-(?:[ \t]|\r?$)/.test(line)) continue; // an item of a list written at the key's indentation
    if (!TOP_KEY.test(line)) return undefined; // ---, %directives, ? keys, quoted keys, a bare scalar...
    starts.push(i);
  }
  if (starts.length === 0) return undefined;
  // Before the first key: only blank lines and comments (anything else was refused above, or is
  // indented content that belongs to no key).
  if (lines.slice(0, starts[0]).some((l) => !isBlankOrComment(l))) return undefined;
  const out: Record<string, unknown> = {};
  for (let k = 0; k < starts.length; k++) {
    const [from, to] = [starts[k], starts[k + 1] ?? lines.length];
    let value: Record<string, unknown> | undefined;
    if (LIST_HEADER.test(lines[from])) {
      // The list's lines, numbered from the line after the header.
      const items = readList(lines.slice(from + 1, to), (a, b) => cut(from + 1 + a, from + 1 + b));
      value = items === undefined ? undefined : { services: items };
    } else {
      value = readPiece(cut(from, to), 'one-key map') as Record<string, unknown> | undefined;
    }
    if (value === undefined) return undefined;
    const [key] = Object.keys(value);
    // A key twice: the whole reading reports it. `__proto__` would set the object's prototype here.
    if (key === undefined || key === '__proto__' || Object.hasOwn(out, key)) return undefined;
    out[key] = value[key];
  }
  return out;
}
