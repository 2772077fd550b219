// The 443 gateway's cost on the Dask path: the same mutual-TLS target reached directly and through the
// gateway's byte-for-byte pass-through, in one run. Node TLS client and server stand in for Dask (a real-Dask
// version belongs beside this one). Client, gateway and targets share one process and event loop, so the
// ratios include the gateway's CPU cost competing with the endpoints: a pessimistic figure.
import { performance } from 'node:perf_hooks';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createGateway } from '../../agent/gateway/gateway.js';
import { tlsFixtures } from '../helpers/tls-fixtures.js';
import { sized } from './mode.js';

const f = tlsFixtures();
const TRANSFER_BYTES = sized(100, 16) * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const ROUND_TRIPS = sized(3_000, 500);
const MESSAGE_BYTES = 100;
const HANDSHAKES = sized(100, 20);
const REPEATS = sized(3, 1);

function target(onSocket: (s: TLSSocket) => void): Promise<Server> {
  const server = createServer(
    { key: f.daskServer.keyPem, cert: f.daskServer.certPem, ca: f.daskCa.certPem, requestCert: true, rejectUnauthorized: true },
    (s) => {
      s.on('error', () => s.destroy());
      onSocket(s);
    },
  );
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

// Sink: counts bytes and answers one byte once TRANSFER_BYTES arrived.
const sink = await target((s) => {
  let n = 0;
  s.on('data', (c: Buffer) => {
    n += c.length;
    if (n >= TRANSFER_BYTES) s.end('k');
  });
});
const echo = await target((s) => s.pipe(s));

const log = pino({ level: 'silent' });
const port = (s: Server): number => (s.address() as AddressInfo).port;
async function gatewayTo(t: Server): Promise<Awaited<ReturnType<typeof createGateway>>> {
  return createGateway({
    host: '127.0.0.1',
    port: 0,
    daskTarget: { host: '127.0.0.1', port: port(t) },
    httpTarget: { host: '127.0.0.1', port: 1 },
    tls: f.gateway,
    verifyDashboardToken: () => Promise.resolve(false),
    log,
  });
}
const gwSink = await gatewayTo(sink);
const gwEcho = await gatewayTo(echo);

function client(p: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: p, ca: f.daskCa.certPem, cert: f.daskClient.certPem, key: f.daskClient.keyPem });
    s.setNoDelay(true);
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

async function transferMs(p: number): Promise<number> {
  const s = await client(p);
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a);
  const start = performance.now();
  const done = new Promise<void>((r) => s.once('data', () => r()));
  for (let sent = 0; sent < TRANSFER_BYTES; sent += CHUNK_BYTES) {
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
  await done;
  const ms = performance.now() - start;
  s.destroy();
  return ms;
}

async function roundTripUs(p: number): Promise<number> {
  const s = await client(p);
  const msg = Buffer.alloc(MESSAGE_BYTES, 0x61);
  let pending = 0;
  let wake: (() => void) | undefined;
  s.on('data', (c: Buffer) => {
    pending -= c.length;
    if (pending <= 0) wake?.();
  });
  const start = performance.now();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    pending = MESSAGE_BYTES;
    const back = new Promise<void>((r) => (wake = r));
    s.write(msg);
    await back;
  }
  const us = ((performance.now() - start) * 1000) / ROUND_TRIPS;
  s.destroy();
  return us;
}

async function handshakeMs(p: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) (await client(p)).destroy();
  return (performance.now() - start) / HANDSHAKES;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function compare(name: string, unit: string, run: (p: number) => Promise<number>, direct: number, via: number, higherIsBetter: boolean, scale: (x: number) => number = (x) => x): Promise<void> {
  await run(direct); // warm-up
  await run(via);
  const d: number[] = [];
  const g: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    d.push(scale(await run(direct)));
    g.push(scale(await run(via)));
  }
  const md = median(d);
  const mg = median(g);
  const ratio = higherIsBetter ? mg / md : md / mg;
  process.stdout.write(
    `${name.padEnd(30)} direct ${md.toFixed(1).padStart(8)} ${unit}   via gateway ${mg.toFixed(1).padStart(8)} ${unit}   ratio ${ratio.toFixed(2)} (1.00 = no cost)\n`,
  );
}

await compare(`${TRANSFER_BYTES / 1024 / 1024} MB upload throughput`, 'MB/s', transferMs, port(sink), gwSink.address().port, true, (ms) => TRANSFER_BYTES / 1024 / 1024 / (ms / 1000));
await compare(`${MESSAGE_BYTES}-byte round trip`, 'µs', roundTripUs, port(echo), gwEcho.address().port, false);
await compare('mTLS connection setup', 'ms', handshakeMs, port(echo), gwEcho.address().port, false);

await gwSink.close();
await gwEcho.close();
sink.close();
echo.close();
