// Running from TypeScript source (npm start, the tests): tsx's loader does not reach worker
// threads by itself, so the worker starts here, registers it, then loads the real entry.
// Compiled builds start dist/worker/main.js directly and never use this file.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
