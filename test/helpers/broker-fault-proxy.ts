// A fault-injecting HTTPS proxy in front of the broker, for the machines' side of the link (what a load balancer
// or a firewall between the VMs and a broker would do). It serves the broker's own certificate, so the machines'
// pinned CA still verifies, and forwards every request (WebSocket upgrades included) to the broker, except:
//
//   failEnrol: N   the first N POST /v1/enrol are answered 503 with a load balancer's HTML page (the broker
//                  never sees them); later ones pass
//   dropEnrol      every POST /v1/enrol has its connection cut without an answer (the broker never sees it)
//   closeAfterBundles: N
//                  once N agent bundles have been served, the proxy stops listening and cuts every connection:
//                  from then on the broker is unreachable from the machines (connections refused)
//
// Every request is recorded with the status it got (0: cut). In-process: startBrokerFaultProxy(...); as a
// process (e.g. in the simulator's outer namespace): broker-fault-proxy-main.ts.
import { request as httpsRequest, createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface BrokerFaultOptions {
  /** The broker, e.g. https://198.51.100.1:8443. */
  upstream: string;
  /** The broker's certificate and key (served as is) and the CA its certificate chains to (to reach it). */
  certPem: string;
  keyPem: string;
  caPem: string;
  host: string;
  port: number;
  failEnrol?: number;
  dropEnrol?: boolean;
  closeAfterBundles?: number;
  onRecord?: (r: FaultRecord) => void;
}

export interface FaultRecord {
  method: string;
  path: string;
  /** 0 when the connection was cut without an answer. */
  status: number;
  /** The address the request came from (a VM's public address, or a worker's private one). */
  from: string;
  /** ms since the proxy started. */
  atMs: number;
}

export interface BrokerFaultProxy {
  url: string;
  records: FaultRecord[];
  stop(): Promise<void>;
}

const UNAVAILABLE = '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n';
const ENROL_PATH = '/v1/enrol';
const BUNDLE_PREFIX = '/v1/agent/bundle/';

export async function startBrokerFaultProxy(o: BrokerFaultOptions): Promise<BrokerFaultProxy> {
  const upstream = new URL(o.upstream);
  const started = Date.now();
  const records: FaultRecord[] = [];
  const sockets = new Set<Socket>();
  let enrolSeen = 0;
  let bundlesServed = 0;
  let closed = false;
  const goDark = () => {
    if (closed) return;
    closed = true;
    server.close();
    for (const s of sockets) s.destroy();
  };
  const record = (req: IncomingMessage, status: number) => {
    const r = { method: req.method ?? '', path: new URL(req.url ?? '/', 'https://proxy').pathname, status, from: req.socket.remoteAddress ?? '', atMs: Date.now() - started };
    records.push(r);
    o.onRecord?.(r);
  };
  const upstreamOpts = { host: upstream.hostname, port: Number(upstream.port || 443), ca: o.caPem };

  const server = createServer({ cert: o.certPem, key: o.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
    const isEnrol = req.method === 'POST' && new URL(req.url ?? '/', 'https://proxy').pathname === ENROL_PATH;
    if (isEnrol) enrolSeen++;
    if (isEnrol && o.dropEnrol) {
      record(req, 0);
      req.socket.destroy();
      return;
    }
    const isBundle = req.method === 'GET' && (req.url ?? '').startsWith(BUNDLE_PREFIX);
    if (isEnrol && enrolSeen <= (o.failEnrol ?? 0)) {
      req.resume();
      record(req, 503);
      res.writeHead(503, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(UNAVAILABLE), connection: 'close' });
      res.end(UNAVAILABLE);
      return;
    }
    const up = httpsRequest({ ...upstreamOpts, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, timeout: 60_000 }, (ures) => {
      record(req, ures.statusCode ?? 502);
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
      if (isBundle && ures.statusCode === 200) {
        res.once('finish', () => {
          bundlesServed++;
          if (o.closeAfterBundles !== undefined && bundlesServed >= o.closeAfterBundles) setTimeout(goDark, 200);
        });
      }
    });
    up.on('timeout', () => up.destroy(new Error('broker timed out')));
    up.on('error', () => {
      record(req, 502);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  // WebSocket (the scheduler agent's telemetry link): the upgrade request as it came, then bytes both ways.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const up = tlsConnect({ ...upstreamOpts, ...(/^[\d.]+$/.test(upstream.hostname) ? {} : { servername: upstream.hostname }) }, () => {
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i] ?? ''}: ${req.rawHeaders[i + 1] ?? ''}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) up.write(head);
      record(req, 101);
      up.pipe(socket);
      socket.pipe(up);
    });
    const close = () => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', close);
    socket.on('error', close);
    up.on('close', close);
    socket.on('close', close);
  });
  server.on('connection', (s: Socket) => {
    if (closed) return void s.destroy();
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    url: `https://${o.host}:${port}`,
    records,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      })),
  };
}
