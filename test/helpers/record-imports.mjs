// Preloaded with `node --import` (and so in every thread, which inherits the flag): records, per
// thread, every module the thread resolves, one URL per line in $RECORD_IMPORTS_DIR/main.txt or
// worker.txt. Used by test/serve-imports.test.ts.
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

register(new URL('./record-imports-hooks.mjs', import.meta.url), { data: { file: `${process.env.RECORD_IMPORTS_DIR}/${isMainThread ? 'main' : 'worker'}.txt` } });
