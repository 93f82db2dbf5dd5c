// The pages' frame. Every value that reaches a page goes through esc() (src/present/escape.ts).
// Any text fits the window: a long word (a base64 frame in a reason) wraps anywhere
// (overflow-wrap:anywhere on the body), while headers keep their Chinese words whole (keep-all) and
// long cells hold their text in a div of bounded width, so a long reason cannot squeeze the name
// and count columns to a character per line.
import { esc } from '../present/escape.js';

/** The pages' shared frame: no scripts, no external resources, readable with JavaScript off. */
export function layout(title: string, body: string, lang = 'zh-CN'): string {
  return `<!doctype html>
<html lang="${esc(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:system-ui,'Microsoft YaHei',sans-serif;margin:1.5em 2em;color:#222;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.5em 0 1.5em;max-width:100%}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}
th{overflow-wrap:normal;word-break:keep-all}td{overflow-wrap:break-word}td.name,td.long{overflow-wrap:anywhere}
td.name{min-width:7em}td.long div{max-width:48em}
th{background:#eee}tr.fail td{background:#f8d0d0;color:#a00000}tr.ok td{background:#eaf6ea}tr.other td{background:#f3f3f3}
small,.muted{color:#666}pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:6px;max-width:70em;margin:0}
nav a{margin-right:1em}code{font-size:90%}
</style></head><body>
${body}
</body></html>
`;
}
