// The 443 gateway end to end on 127.0.0.1: a stand-in "Dask" TLS echo server that requires client
// certificates, a plain HTTP server (with a websocket endpoint) as the scheduler's HTTP side, real clients
// (Node TLS, curl, ws) in front.
import { execFile } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { createGateway } from '../../agent/gateway/gateway.js';
import { tlsFixtures } from '../helpers/tls-fixtures.js';
import { sample } from '../unit/agent/gateway/fixtures/hello-samples.js';

const GOOD = 'good-token-0123456789';
const HELLO_TIMEOUT_MS = 800;
const f = tlsFixtures();

const daskTarget = createTlsServer(
  { key: f.daskServer.keyPem, cert: f.daskServer.certPem, ca: f.daskCa.certPem, requestCert: true, rejectUnauthorized: true },
  (s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  },
);
daskTarget.on('tlsClientError', () => undefined);
const upstreamSeen: { url: string; headers: IncomingHttpHeaders }[] = [];
const httpTarget = createHttpServer((req, res) => {
  upstreamSeen.push({ url: req.url ?? '', headers: req.headers });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ url: req.url, cookie: req.headers.cookie ?? null }));
});
const wss = new WebSocketServer({ server: httpTarget, path: '/status/ws' });
wss.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary })));
await new Promise<void>((r) => daskTarget.listen(0, '127.0.0.1', r));
await new Promise<void>((r) => httpTarget.listen(0, '127.0.0.1', r));
t.teardown(() => {
  daskTarget.close();
  wss.close();
  httpTarget.closeAllConnections();
  httpTarget.close();
});

const logLines: string[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
);
const events: string[] = [];
const gateway = await createGateway({
  host: '127.0.0.1',
  port: 0,
  daskTarget: { host: '127.0.0.1', port: (daskTarget.address() as AddressInfo).port },
  httpTarget: { host: '127.0.0.1', port: (httpTarget.address() as AddressInfo).port },
  tls: f.gateway,
  verifyDashboardToken: (token) => Promise.resolve(token.startsWith(GOOD)),
  helloTimeoutMs: HELLO_TIMEOUT_MS,
  log,
  onClientConnection: (e) => events.push(e),
});
t.teardown(() => gateway.close());
const gw = gateway.address();

function daskClient(opts: { withCert: boolean } = { withCert: true }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: gw.host,
      port: gw.port,
      ca: f.daskCa.certPem,
      ...(opts.withCert ? { cert: f.daskClient.certPem, key: f.daskClient.keyPem } : {}),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

// Writes `data`, half-closes, and returns every byte echoed back until the server's FIN.
function echo(s: TLSSocket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
    s.end(data);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

type CurlReply = { status: number; headers: Record<string, string>; body: string };

/** A dashboard session: a fresh ticket (each is good once) exchanged for the cookie; returns "name=value". */
let tickets = 0;
async function session(): Promise<string> {
  const r = await curl(`/?token=${GOOD}-${++tickets}`);
  return (r.headers['set-cookie'] ?? '').split(';')[0] ?? '';
}

function curl(path: string, extra: string[] = []): Promise<CurlReply> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sk', '-i', '--max-time', '20', ...extra, `https://${gw.host}:${gw.port}${path}`], (err, stdout) => {
      if (err) return reject(new Error(`curl failed: ${err.message}`));
      const [head = '', ...rest] = stdout.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of headerLines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

function closed(s: { once(e: 'close', f: () => void): unknown }): Promise<void> {
  return new Promise((r) => s.once('close', () => r()));
}

void t.test('a TLS client without ALPN gets mutual TLS with the Dask target itself, end to end', async (t) => {
  const s = await daskClient();
  t.ok(s.authorized, 'the client verified the peer against the cluster CA');
  t.equal(s.alpnProtocol, false);
  const peer = s.getPeerX509Certificate();
  t.equal(peer?.fingerprint256, new X509Certificate(f.daskServer.certPem).fingerprint256, "the peer is the target's certificate");
  t.equal((await echo(s, Buffer.from('ping'))).toString(), 'ping');
  await closed(s);
  t.equal(gateway.stats().dask, 1);
});

void t.test('10 MB echo byte for byte through the pass-through', async (t) => {
  const data = randomBytes(10 * 1024 * 1024);
  const back = await echo(await daskClient(), data);
  t.equal(back.length, data.length);
  t.equal(sha(back), sha(data));
});

void t.test('the Dask target still refuses a client without a certificate', async (t) => {
  const result = await daskClient({ withCert: false }).then(
    (s) => echo(s, Buffer.from('ping')).then((b) => `echoed ${b.length} bytes`, (e: Error) => `error ${e.message}`),
    (e: Error) => `error ${e.message}`,
  );
  t.match(result, /^(error|echoed 0 bytes)/);
});

void t.test('pass-through connections are reported open and closed', async (t) => {
  const s = await daskClient();
  await echo(s, Buffer.from('x'));
  await closed(s);
  // The gateway sees the close a moment after the client does.
  for (let i = 0; i < 100 && gateway.stats().daskOpen > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(gateway.stats().daskOpen, 0);
  t.equal(events.filter((e) => e === 'open').length, gateway.stats().dask);
  t.equal(events.filter((e) => e === 'close').length, gateway.stats().dask);
});

void t.test('curl without a token gets 401 and is told how to get a dashboard URL', async (t) => {
  const r = await curl('/status');
  t.equal(r.status, 401);
  t.match(r.body, /skiff status NAME/);
  t.equal(upstreamSeen.length, 0, 'nothing reached the scheduler');
});

void t.test('a good token redirects to the same URL without it and sets the dashboard cookie', async (t) => {
  const r = await curl(`/status?token=${GOOD}&x=1`);
  t.equal(r.status, 302);
  t.equal(r.headers.location, '/status?x=1');
  t.match(r.headers['set-cookie'], /^skiff_dashboard=[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Lax; Path=\/$/, 'a session, not the token');
  t.notMatch(r.headers['set-cookie'], GOOD);
  const again = await curl(`/status?token=${GOOD}&x=1`);
  t.equal(again.status, 401, 'the same ticket a second time is refused');
  t.match(again.body, /used already/);
  t.equal((await curl('/status', ['-H', `Cookie: skiff_dashboard=${GOOD}`])).status, 401, 'the token itself is no cookie');
});

void t.test('the cookie gets the upstream page, with the token cookie stripped', async (t) => {
  const r = await curl('/json/workers?y=2', ['-H', `Cookie: other=1; ${await session()}`]);
  t.equal(r.status, 200);
  t.same(JSON.parse(r.body), { url: '/json/workers?y=2', cookie: 'other=1' });
  t.equal(upstreamSeen.at(-1)?.headers['x-forwarded-proto'], 'https');
});

void t.test('a bad token or a bad cookie gets 401', async (t) => {
  t.equal((await curl('/status?token=forged')).status, 401);
  t.equal((await curl('/status', ['-H', 'Cookie: skiff_dashboard=forged'])).status, 401);
});

void t.test("the dashboard is served with the gateway's certificate over http/1.1", async (t) => {
  const s = tlsConnect({ host: gw.host, port: gw.port, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
  await new Promise<void>((r, j) => s.once('secureConnect', r).once('error', j));
  t.equal(s.alpnProtocol, 'http/1.1');
  t.equal(s.getPeerX509Certificate()?.fingerprint256, new X509Certificate(f.gateway.certPem).fingerprint256);
  s.destroy();
});

void t.test('websockets are proxied with the cookie and refused without it', async (t) => {
  const url = `wss://${gw.host}:${gw.port}/status/ws`;
  const tlsOpts = { rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] };
  const ws = new WebSocket(url, { ...tlsOpts, headers: { cookie: await session(), origin: `https://${gw.host}:${gw.port}` } });
  await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
  const reply = new Promise<string>((r) => ws.once('message', (m: Buffer) => r(m.toString())));
  ws.send('bokeh');
  t.equal(await reply, 'bokeh');
  ws.close();
  const denied = new WebSocket(url, tlsOpts);
  const status = await new Promise<number>((r) => {
    denied.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0));
    denied.once('error', () => r(-1));
  });
  t.equal(status, 401);
  denied.terminate();
});

void t.test('a client that sends a partial hello and stalls is dropped after helloTimeoutMs', async (t) => {
  const before = gateway.stats().helloTimeouts;
  const s = netConnect(gw.port, gw.host);
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', r));
  const started = Date.now();
  s.write(sample('curl').subarray(0, 100));
  await closed(s);
  const elapsedMs = Date.now() - started;
  t.ok(elapsedMs >= HELLO_TIMEOUT_MS - 50, `dropped after ${elapsedMs} ms`);
  t.equal(gateway.stats().helloTimeouts, before + 1);
});

void t.test('garbage and plain HTTP are dropped without an answer', async (t) => {
  const before = gateway.stats().rejected;
  for (const payload of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), randomBytes(64).fill(0x17, 0, 1)]) {
    const s = netConnect(gw.port, gw.host);
    s.on('error', () => undefined);
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.write(payload);
    await closed(s);
    t.equal(Buffer.concat(got).length, 0, 'no bytes back');
  }
  t.equal(gateway.stats().rejected, before + 2);
});

void t.test('the gateway keeps serving both sides after all that', async (t) => {
  t.equal((await echo(await daskClient(), Buffer.from('still here'))).toString(), 'still here');
  t.equal((await curl('/health', ['-H', `Cookie: ${await session()}`])).status, 200);
  const st = gateway.stats();
  t.ok(st.http >= 8, `${st.http} dashboard connections`);
  t.equal(st.targetFailures, 0);
});

void t.test('no log line carries the dashboard token, and drops are logged at debug', (t) => {
  t.notOk(logLines.some((l) => l.includes(GOOD)), 'token never logged');
  const drops = logLines.map((l) => JSON.parse(l) as { msg: string; level: number; reason?: string });
  t.ok(drops.some((l) => l.msg === 'connection dropped before routing' && l.level === 20 && /ClientHello|TLS/.test(l.reason ?? '')));
  t.end();
});
