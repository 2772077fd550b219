// The dashboard through the gateway, tried as an attacker holding a dashboard session would: scheduler routes
// that dial an address (an SSRF listener on 127.0.0.1 stands for the VPC and 169.254.169.254), writes, and
// WebSockets from another site are refused with 403; the URL token is a ticket good once; every answer carries
// CSP, frame and referrer headers and HSTS. Meanwhile the real dashboard pages and a Dask client work.
import t from 'tap';
import { createServer } from 'node:net';
import { request, type RequestOptions } from 'node:https';
import { WebSocket } from 'ws';
import { makeHome, daskSum } from '../helpers/skiff.js';

interface UpJson {
  id: string;
  scheduler: string;
  dashboard: string;
  credentials: { ca: string; cert: string; key: string };
}
type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

function https(port: number, path: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers ?? {}, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], timeout: 15_000 } as RequestOptions, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(o.method === 'POST' || o.method === 'PUT' || o.method === 'PATCH' ? '{}' : undefined);
  });
}

/** The status a WebSocket upgrade got, and whether the gateway itself refused it. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; byGateway: boolean }> {
  return new Promise((resolve) => {
    const tlsOpts = { rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] };
    const ws = new WebSocket(url, { ...tlsOpts, headers });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, byGateway: false });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, byGateway: body.includes('skiff gateway: refused') }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, byGateway: false }));
    });
    ws.once('error', () => resolve({ status: -1, byGateway: false }));
  });
}

t.test('the dashboard serves its pages only, to its own origin, behind a single-use ticket', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const contacted: string[] = [];
  const ssrf = createServer((s) => {
    contacted.push(`${s.remoteAddress ?? ''}:${s.remotePort ?? ''}`);
    s.destroy();
  });
  await new Promise<void>((r) => ssrf.listen(0, '127.0.0.1', r));
  t.teardown(() => ssrf.close());
  const ssrfPort = (ssrf.address() as { port: number }).port;

  const up = await h.run(['up', '--workers', '1', '--name', 'shown', '--json']);
  t.equal(up.code, 0, `up succeeds: ${up.stderr}`);
  const c = JSON.parse(up.stdout) as UpJson;
  const port = Number(c.scheduler.split(':').at(-1));
  const token = new URL(c.dashboard).searchParams.get('token') ?? '';

  const first = await https(port, `/status?token=${token}`);
  t.equal(first.status, 302, 'the ticket is exchanged for a session');
  const setCookie = String(first.headers['set-cookie'] ?? '');
  t.match(setCookie, new RegExp(`^skiff_dashboard_${c.id}=[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Lax; Path=/$`), 'named for this cluster, Lax');
  t.notMatch(setCookie, token, 'the cookie is not the token');
  const cookie = setCookie.split(';')[0] ?? '';
  const again = await https(port, `/status?token=${token}`);
  t.equal(again.status, 401, 'the same URL a second time opens nothing');
  t.match(again.body, /used already/);

  const page = await https(port, '/status', { headers: { cookie } });
  t.equal(page.status, 200, 'the status page is served');
  t.match(page.body, /bokeh|<html/i, "the scheduler's own page (Debian's Dask here runs without Bokeh)");
  for (const r of [page, again, first]) {
    t.match(r.headers['content-security-policy'], /frame-ancestors 'none'/);
    t.equal(r.headers['x-frame-options'], 'DENY');
    t.equal(r.headers['referrer-policy'], 'no-referrer');
    t.match(r.headers['strict-transport-security'], /max-age=\d+/);
  }
  for (const path of ['/health', '/metrics', '/json/counts.json', '/info/main/workers.html']) {
    t.equal((await https(port, path, { headers: { cookie } })).status, 200, `${path} is served`);
  }
  // Without Bokeh the scheduler has no /workers app and its handlers no HEAD: the gateway passes them on anyway.
  t.not((await https(port, '/workers', { headers: { cookie } })).status, 403, '/workers is passed to the scheduler');
  t.not((await https(port, '/health', { method: 'HEAD', headers: { cookie } })).status, 403, 'HEAD is passed to the scheduler');

  const targets = [`tls://127.0.0.1:${ssrfPort}`, `tcp://127.0.0.1:${ssrfPort}`, `ws://127.0.0.1:${ssrfPort}`];
  for (const a of targets) {
    for (const path of [`/info/logs/${encodeURIComponent(a)}.html`, `/info/logs/${a}.html`, `/info/call-stacks/${encodeURIComponent(a)}.html`, `/info/counters/${encodeURIComponent(a)}.html`, `/info/main/workers.html?worker=${encodeURIComponent(a)}`]) {
      const r = await https(port, path, { headers: { cookie } });
      t.equal(r.status, 403, `${path.slice(0, 60)} is refused`);
    }
  }
  t.equal((await https(port, `/proxy/${ssrfPort}/127.0.0.1/status`, { headers: { cookie } })).status, 403, "the scheduler's proxy route is refused");
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await https(port, '/status', { method, headers: { cookie, 'content-type': 'application/json' } });
    t.equal(r.status, 403, `${method} is refused`);
    t.match(r.body, /read-only/);
  }
  const wsUrl = `wss://127.0.0.1:${port}/status/ws`;
  const foreign = await upgrade(wsUrl, { cookie, origin: 'https://evil.example' });
  t.same(foreign, { status: 403, byGateway: true }, 'a WebSocket from another origin is refused by the gateway');
  t.same(await upgrade(wsUrl, { cookie }), { status: 403, byGateway: true }, 'and one without an Origin');
  t.equal((await upgrade(`wss://127.0.0.1:${port}/eventstream`, { cookie, origin: `https://127.0.0.1:${port}` })).byGateway, true, 'a WebSocket that is not a dashboard app is refused');
  const own = await upgrade(wsUrl, { cookie, origin: `https://127.0.0.1:${port}` });
  t.equal(own.byGateway, false, `the dashboard's own WebSocket is passed to the scheduler (answered ${own.status})`);

  t.same(await daskSum(c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key), { ok: true, result: 4950 }, 'a Dask client computes');
  t.equal((await https(port, '/status', { headers: { cookie } })).status, 200, 'the dashboard still answers');
  await new Promise((r) => setTimeout(r, 1000));
  t.same(contacted, [], 'the SSRF listener was never contacted');
});
