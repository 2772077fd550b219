// The deadlines of sockets the gateway hands to its own HTTPS servers (which never listen(), so Node's
// headersTimeout and requestTimeout do not run there): a session that trickles its next request's headers, a
// data-access client that handshakes and says nothing, a browser that shows nothing valid. Short timeouts here;
// the defaults are in agent/gateway/limits.ts.
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import t from 'tap';
import { createGateway } from '../../agent/gateway/gateway.js';
import { DATA_ACCESS_ALPN } from '../../broker/api/data-access.js';
import { tlsFixtures } from '../helpers/tls-fixtures.js';

const f = tlsFixtures();
const HEADERS_MS = 1_200;
const TRUST_MS = 600; // shorter than the headers deadline, so each is seen on its own
const SLACK_MS = 3_000;

const httpTarget = createHttpServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => httpTarget.listen(0, '127.0.0.1', r));
t.teardown(() => {
  httpTarget.closeAllConnections();
  httpTarget.close();
});
const gateway = await createGateway({
  host: '127.0.0.1',
  port: 0,
  daskTarget: { host: '127.0.0.1', port: 9 },
  httpTarget: { host: '127.0.0.1', port: (httpTarget.address() as AddressInfo).port },
  tls: f.gateway,
  verifyDashboardToken: (token) => Promise.resolve(token === 'good'),
  headersTimeoutMs: HEADERS_MS,
  trustTimeoutMs: TRUST_MS,
  dataAccess: { caPem: f.daskCa.certPem, clusterId: 'c1', onPayload: () => undefined },
  log: pino({ level: 'silent' }),
});
t.teardown(() => gateway.close());
const port = gateway.address().port;

/** ms until `closed`, or Infinity when it is still open well past every deadline. */
const orOpen = (closed: Promise<number>): Promise<number> =>
  Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), HEADERS_MS + TRUST_MS + SLACK_MS + 2_000))]);

function open(alpn: string, withCert = false): Promise<{ s: TLSSocket; closed: Promise<number>; text: () => string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port, ALPNProtocols: [alpn], rejectUnauthorized: false,
      ...(withCert ? { cert: f.daskClient.certPem, key: f.daskClient.keyPem } : {}),
    });
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.once('error', reject);
    s.once('secureConnect', () => {
      const t0 = Date.now();
      resolve({ s, closed: new Promise((r) => s.once('close', () => r(Date.now() - t0))), text: () => text });
    });
  });
}

void t.test('a browser that shows no ticket or session after its handshake is closed at the trust deadline', async (t) => {
  const c = await open('http/1.1');
  t.teardown(() => c.s.destroy());
  const ms = await orOpen(c.closed);
  t.ok(ms >= TRUST_MS - 200 && ms <= TRUST_MS + SLACK_MS, `closed after ${ms} ms (deadline ${TRUST_MS} ms)`);
  t.equal(gateway.stats().trustTimeouts, 1);
});

void t.test('a request without a valid session is answered 401 and its connection closed', async (t) => {
  const c = await open('http/1.1');
  t.teardown(() => c.s.destroy());
  c.s.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
  const ms = await orOpen(c.closed);
  t.match(c.text(), /^HTTP\/1\.1 401/);
  t.ok(ms < TRUST_MS, `closed with the answer (${ms} ms)`);
});

void t.test('a session that trickles its next request\'s headers is closed at the headers deadline', async (t) => {
  const c = await open('http/1.1');
  t.teardown(() => c.s.destroy());
  c.s.write('GET /health?token=good HTTP/1.1\r\nhost: x\r\n\r\n');
  await new Promise<void>((r) => c.s.once('data', () => r()));
  t.match(c.text(), /^HTTP\/1\.1 302/, 'the ticket opens a session: the connection is trusted');
  const started = Date.now();
  const trickle = setInterval(() => c.s.writable && c.s.write('x'), 100); // never a whole header line
  t.teardown(() => clearInterval(trickle));
  c.s.write('GET /health HTTP/1.1\r\nx-slow: ');
  const ms = (await orOpen(c.closed)) === Infinity ? Infinity : Date.now() - started;
  t.ok(ms >= HEADERS_MS - 200 && ms <= HEADERS_MS + SLACK_MS, `closed ${ms} ms after the last answer (deadline ${HEADERS_MS} ms)`);
});

void t.test('a data-access client that completes mutual TLS and sends nothing is closed at the headers deadline', async (t) => {
  const c = await open(DATA_ACCESS_ALPN, true);
  t.teardown(() => c.s.destroy());
  const ms = await orOpen(c.closed);
  t.ok(ms >= HEADERS_MS - 200 && ms <= HEADERS_MS + SLACK_MS, `closed after ${ms} ms (deadline ${HEADERS_MS} ms)`);
});
