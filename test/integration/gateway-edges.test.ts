// The gateway's edges: half-closed Dask connections, targets that are down, and close() with clients attached.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import t from 'tap';
import { createGateway, type GatewayOptions } from '../../agent/gateway/gateway.js';
import { tlsFixtures } from '../helpers/tls-fixtures.js';

const f = tlsFixtures();
const log = pino({ level: 'silent' });

// Answers the SHA-256 of everything it received, only after the client half-closed.
const hashAfterEnd = createTlsServer(
  {
    key: f.daskServer.keyPem,
    cert: f.daskServer.certPem,
    ca: f.daskCa.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    allowHalfOpen: true,
  },
  (s) => {
    const h = createHash('sha256');
    s.on('error', () => s.destroy());
    s.on('data', (c: Buffer) => h.update(c));
    s.on('end', () => s.end(h.digest('hex')));
  },
);
await new Promise<void>((r) => hashAfterEnd.listen(0, '127.0.0.1', r));
t.teardown(() => hashAfterEnd.close());
const targetPort = (hashAfterEnd.address() as AddressInfo).port;

// A port that nothing listens on: bind one, then close it.
const deadPort = await new Promise<number>((resolve) => {
  const s = createTlsServer();
  s.listen(0, '127.0.0.1', () => {
    const p = (s.address() as AddressInfo).port;
    s.close(() => resolve(p));
  });
});

async function gatewayWith(overrides: Partial<GatewayOptions>) {
  const gw = await createGateway({
    host: '127.0.0.1',
    port: 0,
    daskTarget: { host: '127.0.0.1', port: targetPort },
    httpTarget: { host: '127.0.0.1', port: deadPort },
    tls: f.gateway,
    verifyDashboardToken: (token) => Promise.resolve(token === 'ok'),
    log,
    ...overrides,
  });
  return gw;
}

function daskClient(port: number): TLSSocket {
  return tlsConnect({ host: '127.0.0.1', port, ca: f.daskCa.certPem, cert: f.daskClient.certPem, key: f.daskClient.keyPem });
}

function readAll(s: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.once('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

void t.test('a half-closed Dask connection still gets the answer the target sends after the FIN', async (t) => {
  const gw = await gatewayWith({});
  t.teardown(() => gw.close());
  const data = randomBytes(3 * 1024 * 1024);
  const s = daskClient(gw.address().port);
  const answer = readAll(s);
  s.end(data);
  t.equal(await answer, createHash('sha256').update(data).digest('hex'));
});

void t.test('a client is disconnected when the Dask target is down, and no connection is reported', async (t) => {
  const events: string[] = [];
  const gw = await gatewayWith({ daskTarget: { host: '127.0.0.1', port: deadPort }, onClientConnection: (e) => events.push(e) });
  t.teardown(() => gw.close());
  const s = daskClient(gw.address().port);
  await readAll(s);
  t.equal(gw.stats().targetFailures, 1);
  t.same(events, []);
});

void t.test('the dashboard answers 502 when the scheduler HTTP endpoint is down', async (t) => {
  const gw = await gatewayWith({});
  t.teardown(() => gw.close());
  const status = await new Promise<string>((resolve, reject) => {
    execFile(
      'curl',
      ['-sk', '-L', '-b', '', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', `https://127.0.0.1:${gw.address().port}/health?token=ok`],
      (err, stdout) => (err ? reject(new Error(`curl failed: ${err.message}`)) : resolve(stdout)),
    );
  });
  t.equal(status, '502');
});

void t.test('close() disconnects pass-through clients and frees the port', async (t) => {
  const gw = await gatewayWith({});
  const s = daskClient(gw.address().port);
  await new Promise<void>((r) => s.once('secureConnect', () => r()));
  const ended = readAll(s);
  await gw.close();
  await ended;
  t.ok(s.destroyed, 'the client connection is gone');
  t.equal(gw.stats().daskOpen, 0);
});

void t.test('listening on a port in use fails with AGT_GATEWAY', async (t) => {
  await t.rejects(gatewayWith({ port: targetPort }), { code: 'AGT_GATEWAY' });
});
