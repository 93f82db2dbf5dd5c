// HTTP clients side by side: undici (what the exporter uses) and axios (what the design first named),
// the same POST with a JSON body to the bench target (in its own process), at one concurrency, with
// keep-alive and with a fresh connection per call. Requests/s and this process's CPU per call.
// Each client runs in its own child process, so one's garbage and sockets do not weigh on the other.
//   npx tsx bench/clients.ts [--concurrency=64] [--requests=20000]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { startTarget, table } from './common.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const concurrency = Number(arg('concurrency', '64'));
const requests = Number(arg('requests', '20000'));

type Client = 'undici' | 'axios';
interface Figures { requests: number; failed: number; seconds: number; cpuMs: number }

/** In the child: `requests` calls, `concurrency` at a time, with one client and connection mode. */
async function drive(url: string, client: Client, keepAlive: boolean): Promise<Figures> {
  const body = JSON.stringify({ n: 1 });
  let send: () => Promise<number>;
  if (client === 'undici') {
    const { Agent, request } = await import('undici');
    const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
    // As src/http/client.ts sends: reset closes the connection after the answer.
    send = async () => {
      const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher, reset: !keepAlive } as Parameters<typeof request>[1]);
      await res.body.text();
      return res.statusCode;
    };
  } else {
    const { default: axios } = await import('axios');
    const instance = axios.create({ httpAgent: new http.Agent({ keepAlive, maxSockets: concurrency }), responseType: 'text', validateStatus: () => true });
    send = async () => (await instance.post(url, body, { headers: { 'content-type': 'application/json' } })).status;
  }
  let started = 0;
  let failed = 0;
  // A short warm-up (JIT, first connections), not counted.
  await Promise.all(Array.from({ length: concurrency }, () => send().catch(() => 0)));
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < requests) {
        started++;
        try {
          if ((await send()) !== 200) failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  return { requests, failed, seconds, cpuMs: (used.user + used.system) / 1000 };
}

async function inChild(url: string, client: Client, keepAlive: boolean): Promise<Figures> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/clients.ts', '--child', url, client, String(keepAlive), `--concurrency=${concurrency}`, `--requests=${requests}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${client} bench exited with ${code}`);
  return JSON.parse(out) as Figures;
}

async function main(): Promise<void> {
  const target = await startTarget({ LAG_MS: '0' });
  const rows: (string | number)[][] = [];
  try {
    for (const keepAlive of [true, false]) {
      const mode = keepAlive ? 'keep-alive' : 'fresh connection';
      const figures: Partial<Record<Client, Figures>> = {};
      for (const client of ['undici', 'axios'] as const) figures[client] = await inChild(`${target.url}/v1/svc-0`, client, keepAlive);
      for (const client of ['undici', 'axios'] as const) {
        const f = figures[client]!;
        const rate = f.requests / f.seconds;
        const undiciRate = figures.undici!.requests / figures.undici!.seconds;
        rows.push([mode, client, f.requests, f.failed, Math.round(rate), (f.cpuMs * 1000) / f.requests, (rate / undiciRate).toFixed(2)]);
      }
    }
    table(`HTTP clients: POST with a JSON body, concurrency ${concurrency}, ${requests} requests each`, ['connections', 'client', 'requests', 'failed', 'requests/s', 'CPU µs/call', 'requests/s vs undici'], rows);
  } finally {
    await target.stop();
  }
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  const [url, client, keepAlive] = process.argv.slice(i + 1, i + 4);
  const f = await drive(url, client as Client, keepAlive === 'true');
  process.stdout.write(`${JSON.stringify(f)}\n`);
  process.exit(0);
} else {
  await main();
}
