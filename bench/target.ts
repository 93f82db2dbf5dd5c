// A minimal platform for benchmarks, run in its own process so that the figures measured in the
// bench process are the exporter's alone. Plain node:http (no framework) so the target is never
// the bottleneck. Prints `{"port": N}` on stdout when listening.
//
//   POST /console/login                 -> {code:0,data:{sid}}
//   GET  /console/usage?appid=&service= -> {code:0,data:{usedCount}}
//   POST /v1/<service>                  -> {code:0,...}; meters 1 unit after LAG_MS
//   GET  /probe                         -> 200 "ok" (what blackbox_exporter probes)
// Fault services, by the id's prefix: timeout- (never answers), reset- (destroys the socket),
// e5xx- (500, not metered), drip- (a body one byte per 100 ms), big- (a 50 MB body).
//   WS   /ws/<service>                  -> accepts the handshake and never answers (ws- services)
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const lagMs = Number(process.env.LAG_MS ?? 0);
const counters = new Map<string, number>();
const BIG = Buffer.alloc(50 * 1024 * 1024, 'x');
let requests = 0;

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function meter(key: string): void {
  const add = () => counters.set(key, (counters.get(key) ?? 0) + 1);
  if (lagMs === 0) add();
  else setTimeout(add, lagMs).unref();
}

const server = createServer((req, res) => {
  requests++;
  const url = new URL(req.url ?? '/', 'http://x');
  // Drain the request body before answering.
  req.resume();
  req.on('end', () => {
    if (url.pathname === '/probe') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    } else if (url.pathname === '/console/login') {
      json(res, 200, { code: 0, data: { sid: 'bench-session' } });
    } else if (url.pathname === '/console/usage') {
      json(res, 200, { code: 0, data: { usedCount: counters.get(`${url.searchParams.get('service')}`) ?? 0 } });
    } else if (url.pathname === '/_stats') {
      json(res, 200, { requests });
    } else if (url.pathname.startsWith('/v1/')) {
      const service = url.pathname.slice(4);
      if (service.startsWith('timeout-')) return; // never answers; the client's timeout ends it
      if (service.startsWith('reset-')) return void req.socket.destroy();
      if (service.startsWith('e5xx-')) return json(res, 500, { code: 10500, message: 'internal error' });
      if (service.startsWith('drip-')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        let n = 0;
        const timer = setInterval(() => {
          if (res.destroyed || n++ > 600) {
            clearInterval(timer);
            res.end();
            return;
          }
          res.write(' ');
        }, 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
      if (service.startsWith('big-')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': BIG.length });
        return void res.end(BIG);
      }
      meter(service);
      json(res, 200, { code: 0, message: 'success', sid: 'x', data: { result: 'ok' } });
    } else {
      json(res, 404, { code: 10404 });
    }
  });
});
// A WebSocket that accepts and then says nothing: the client's timeout must end it.
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  requests++;
  wss.handleUpgrade(req, socket, head, (ws) => ws.on('error', () => undefined));
});
server.keepAliveTimeout = 30_000;
server.headersTimeout = 35_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
