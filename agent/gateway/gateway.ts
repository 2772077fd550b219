// The scheduler's single public port. Each connection's TLS ClientHello is read (not terminated) and routed:
//
//   client ──TCP──▶ gateway ──┬─ ALPN has http/1.1 or h2 ─▶ in-process HTTPS server ─▶ scheduler HTTP (token)
//                             ├─ ALPN skiff-data/1 ───────▶ in-process mTLS server ─▶ the agent's data access (user cert)
//                             └─ anything else (Dask) ─────▶ scheduler TLS port, byte for byte (mTLS end to end)
//
// Bytes are buffered only until the parser decides, bounded by maxHelloBytes and helloTimeoutMs. A connection
// is nobody until it has shown who it is (limits.ts): a Dask client by completing its mutual-TLS handshake with
// the scheduler within handshakeTimeoutMs of arriving (Dask sets no handshake timeout of its own), a browser by a
// valid ticket or session within trustTimeoutMs of its handshake. admission.ts bounds the nobodies (per
// address, per /24 or /64, per stage) so that they can never take the slots of trusted connections.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { SkiffError } from '../../broker/api/errors.js';
import { parseClientHello } from './client-hello.js';
import { createDashboardServer } from './dashboard-server.js';
import { pipeSockets } from './pipe-sockets.js';
import { createAdmission, type AdmissionStats } from './admission.js';
import { watchHandshake } from './handshake-watch.js';
import { createDataAccessServer, type DataAccessRoute } from './data-access-server.js';
import { createHandOff } from './hand-off.js';
import { DATA_ACCESS_ALPN } from '../../broker/api/data-access.js';
import * as L from './limits.js';

export type Endpoint = { host: string; port: number };

export type GatewayOptions = {
  host: string;
  port: number; // 0 = a free port
  daskTarget: Endpoint;
  /** The scheduler's HTTP server; `headers` are set on every request to it (its guard's token). */
  httpTarget: Endpoint & { headers?: Readonly<Record<string, string>> };
  tls: { certPem: string; keyPem: string; chainPem?: string }; // chainPem: the issuer(s), sent after the certificate
  verifyDashboardToken: (token: string) => Promise<boolean>;
  dashboardCookieName?: string; // default skiff_dashboard; the agent names it per cluster
  // Defaults and their reasons: limits.ts.
  helloTimeoutMs?: number; // also the bound on the gateway's own TLS handshakes
  maxHelloBytes?: number;
  maxConnections?: number;
  maxUntrustedPerAddress?: number;
  maxUntrustedPerNetwork?: number; // per IPv4 /24 or IPv6 /64
  maxPending?: number;
  maxAnonymous?: number;
  handshakeTimeoutMs?: number;
  trustTimeoutMs?: number;
  headersTimeoutMs?: number;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  verifyTimeoutMs?: number;
  upstreamTimeoutMs?: number;
  log: Logger;
  /** Where the user's CLI delivers data access (absent: the route is closed and such connections go to Dask). */
  dataAccess?: DataAccessRoute;
  onClientConnection?: (event: 'open' | 'close') => void;
};

export type GatewayStats = {
  dask: number; // pass-through connections established since start
  daskOpen: number; // pass-through connections open now
  http: number; // connections handed to the dashboard's TLS server
  dataAccess: number; // connections handed to the data-access TLS server
  rejected: number; // malformed, non-TLS, over the size bound or timed out before a complete ClientHello
  helloTimeouts: number; // of `rejected`, those dropped for taking longer than helloTimeoutMs
  targetFailures: number; // Dask target unreachable
  handshakeTimeouts: number; // passed-through connections closed for not completing the TLS handshake in time
  trustTimeouts: number; // dashboard connections closed for showing no valid ticket or session in time
  admission: AdmissionStats;
};

export type Gateway = {
  address(): Endpoint;
  close(): Promise<void>;
  stats(): GatewayStats;
};

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.log.child({ component: 'gateway' });
  const helloTimeoutMs = opts.helloTimeoutMs ?? L.GATEWAY_HELLO_TIMEOUT_MS;
  const maxHelloBytes = opts.maxHelloBytes ?? L.GATEWAY_MAX_HELLO_BYTES;
  const connectTimeoutMs = opts.connectTimeoutMs ?? L.GATEWAY_CONNECT_TIMEOUT_MS;
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? L.GATEWAY_HANDSHAKE_TIMEOUT_MS;
  const headersTimeoutMs = opts.headersTimeoutMs ?? L.GATEWAY_HEADERS_TIMEOUT_MS;
  const idleTimeoutMs = opts.idleTimeoutMs ?? L.GATEWAY_IDLE_TIMEOUT_MS;
  const stats = { dask: 0, daskOpen: 0, http: 0, dataAccess: 0, rejected: 0, helloTimeouts: 0, targetFailures: 0, handshakeTimeouts: 0, trustTimeouts: 0 };
  const admission = createAdmission({
    maxConnections: opts.maxConnections ?? L.GATEWAY_MAX_CONNECTIONS,
    maxUntrustedPerAddress: opts.maxUntrustedPerAddress ?? L.GATEWAY_MAX_UNTRUSTED_PER_ADDRESS,
    maxUntrustedPerNetwork: opts.maxUntrustedPerNetwork ?? L.GATEWAY_MAX_UNTRUSTED_PER_NETWORK,
    maxPending: opts.maxPending ?? L.GATEWAY_MAX_PENDING,
    maxAnonymous: opts.maxAnonymous ?? L.GATEWAY_MAX_ANONYMOUS,
  });
  const handOff = createHandOff({
    admission,
    trustTimeoutMs: opts.trustTimeoutMs ?? L.GATEWAY_TRUST_TIMEOUT_MS,
    onTrustTimeout: () => {
      stats.trustTimeouts++;
      log.debug({}, 'dashboard connection showed no valid ticket or session in time; closed');
    },
  });
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const notify = (event: 'open' | 'close'): void => {
    try {
      opts.onClientConnection?.(event);
    } catch (err) {
      log.warn({ err: String(err), event }, 'client connection listener threw');
    }
  };

  const tlsHandshakeMs = Math.min(helloTimeoutMs, handshakeTimeoutMs);
  const dashboard = createDashboardServer({
    httpTarget: opts.httpTarget,
    tls: opts.tls,
    verifyDashboardToken: (token) => opts.verifyDashboardToken(token),
    ...(opts.dashboardCookieName !== undefined ? { cookieName: opts.dashboardCookieName } : {}),
    handshakeTimeoutMs: tlsHandshakeMs,
    headersTimeoutMs,
    idleTimeoutMs,
    keepAliveTimeoutMs: L.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
    verifyTimeoutMs: opts.verifyTimeoutMs ?? L.GATEWAY_VERIFY_TIMEOUT_MS,
    upstreamTimeoutMs: opts.upstreamTimeoutMs ?? L.GATEWAY_UPSTREAM_TIMEOUT_MS,
    log,
    track,
    onTrusted: (tls) => handOff.trusted(tls),
  });
  dashboard.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'dashboard TLS handshake failed'));
  dashboard.on('secureConnection', (tls: Socket) => handOff.handshaken(tls, false));

  const dataServer = opts.dataAccess
    ? createDataAccessServer({ ...opts.dataAccess, tls: opts.tls, handshakeTimeoutMs: tlsHandshakeMs, headersTimeoutMs, idleTimeoutMs, log })
    : undefined;
  dataServer?.on('tlsClientError', (err: Error) => log.info({ err: err.message }, 'data-access TLS handshake failed'));
  // Its handshake verified a certificate of the cluster's CA.
  dataServer?.on('secureConnection', (tls: Socket) => handOff.handshaken(tls, true));

  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    if (!admission.admit(client)) return;
    track(client);
    const remote = `${client.remoteAddress ?? '?'}:${client.remotePort ?? '?'}`;
    let buffered = Buffer.alloc(0);
    const drop = (reason: string): void => {
      stats.rejected++;
      log.debug({ remote, reason, bytes: buffered.length }, 'connection dropped before routing');
      client.destroy();
    };
    const timer = setTimeout(() => {
      stats.helloTimeouts++;
      drop(`no complete ClientHello within ${helloTimeoutMs} ms`);
    }, helloTimeoutMs);
    timer.unref();
    const onError = (): void => {
      clearTimeout(timer);
      client.destroy();
    };
    const onEnd = (): void => {
      clearTimeout(timer);
      drop('client closed before a complete ClientHello');
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const hello = parseClientHello(buffered, maxHelloBytes);
      if (hello.kind === 'incomplete') return;
      clearTimeout(timer);
      client.pause();
      client.off('data', onData);
      client.off('end', onEnd);
      client.off('error', onError);
      if (hello.kind === 'reject') return drop(hello.reason);
      if (dataServer && hello.alpn.includes(DATA_ACCESS_ALPN)) {
        stats.dataAccess++;
        return handOff.give(dataServer, client, buffered);
      }
      if (hello.alpn.includes('http/1.1') || hello.alpn.includes('h2')) {
        stats.http++;
        return handOff.give(dashboard, client, buffered);
      }
      passThrough(client, buffered, remote, arrivedAt);
    };
    const arrivedAt = Date.now();
    client.on('data', onData);
    client.on('end', onEnd);
    client.on('error', onError);
  });

  function passThrough(client: Socket, first: Buffer, remote: string, arrivedAt: number): void {
    // The rest of the handshake budget: a ClientHello and then silence holds nothing for long.
    const handshakeTimer = setTimeout(() => {
      stats.handshakeTimeouts++;
      log.debug({ remote }, `no completed TLS handshake within ${handshakeTimeoutMs} ms; closing`);
      client.destroy();
    }, Math.max(0, handshakeTimeoutMs - (Date.now() - arrivedAt)));
    handshakeTimer.unref();
    client.once('close', () => clearTimeout(handshakeTimer));
    const upstream = connect({ host: opts.daskTarget.host, port: opts.daskTarget.port, allowHalfOpen: true });
    track(upstream);
    upstream.setTimeout(connectTimeoutMs, () => upstream.destroy(new Error(`connect timed out after ${connectTimeoutMs} ms`)));
    const failBeforeConnect = (err: Error): void => {
      stats.targetFailures++;
      log.warn({ remote, err: err.message, target: opts.daskTarget }, 'cannot reach the Dask scheduler');
      client.destroy();
    };
    const clientGone = (): void => {
      upstream.destroy();
    };
    upstream.once('error', failBeforeConnect);
    client.once('error', clientGone);
    client.once('close', clientGone);
    upstream.once('connect', () => {
      upstream.off('error', failBeforeConnect);
      client.off('error', clientGone);
      client.off('close', clientGone);
      upstream.setTimeout(0);
      upstream.setNoDelay(true);
      client.setKeepAlive(true, 60_000);
      stats.dask++;
      stats.daskOpen++;
      log.debug({ remote }, 'Dask connection passed through');
      notify('open');
      client.once('close', () => {
        stats.daskOpen--;
        notify('close');
      });
      upstream.write(first);
      pipeSockets(client, upstream);
      watchHandshake(client, upstream, first, () => {
        clearTimeout(handshakeTimer);
        admission.trusted(client);
      });
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new SkiffError('AGT_GATEWAY', `gateway cannot listen on ${opts.host}:${opts.port}: ${err.message}; free the port or pick another`, { cause: err })),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  server.on('error', (err) => log.error({ err }, 'gateway listener error'));
  const bound = server.address() as AddressInfo;
  log.info({ host: bound.address, port: bound.port }, 'gateway listening');

  return {
    address: () => ({ host: bound.address, port: bound.port }),
    stats: () => ({ ...stats, admission: admission.stats() }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
