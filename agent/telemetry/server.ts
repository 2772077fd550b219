// The scheduler machine's telemetry server: worker agents connect over wss on the private network and
// present their node certificate, signed by this cluster's CA (requestCert + rejectUnauthorized: a
// certificate of another cluster never completes the handshake). The machine name comes from the
// certificate ("worker-1.<clusterId>"), not from the message, and the user's certificate (user.<id>), signed
// by the same CA, is refused. A malformed or oversized message closes that connection only, and is logged.

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { MachineReport } from '../../broker/api/telemetry.js';
import { parseMachineReport } from '../../broker/api/telemetry-validate.js';

export interface TelemetryServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  tls: { certPem: string; keyPem: string; caPem: string };
  onReport: (report: MachineReport) => void;
  log: Logger;
  /** Default 64 KiB: a report with 64 GPUs is ~6 KiB. */
  maxPayloadBytes?: number;
  /** Default 1000 concurrent connections. */
  maxConnections?: number;
  /** What a machine is sent as soon as it connects (the current data access), if anything. */
  greeting?: () => object | undefined;
}

export interface TelemetryServer {
  address(): { host: string; port: number };
  connections(): number;
  /** Send a message to every connected machine (e.g. fresh data access). */
  broadcast(message: object): void;
  close(): Promise<void>;
}

/** Close codes: 1008 policy violation (bad message or peer), 1009 too big (set by ws itself). */
const POLICY = 1008;

export async function createTelemetryServer(o: TelemetryServerOptions): Promise<TelemetryServer> {
  const https: Server = createServer({ cert: o.tls.certPem, key: o.tls.keyPem, ca: o.tls.caPem, requestCert: true, rejectUnauthorized: true });
  https.on('tlsClientError', (err, socket) => {
    o.log.warn({ remote: socket.remoteAddress, err: err.message }, 'telemetry connection refused: bad client certificate');
  });
  https.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('telemetry speaks WebSocket only\n');
  });
  const wss = new WebSocketServer({ server: https, maxPayload: o.maxPayloadBytes ?? 64 * 1024, clientTracking: true });
  const maxConnections = o.maxConnections ?? 1000;

  wss.on('connection', (ws, req) => {
    const tls = req.socket as TLSSocket;
    const cn = tls.getPeerCertificate().subject?.CN;
    // Node certificates are issued as "<machine>.<clusterId>"; anything else is not a machine of ours.
    const dot = typeof cn === 'string' ? cn.lastIndexOf('.') : -1;
    const name = typeof cn === 'string' && dot > 0 ? cn.slice(0, dot) : '';
    const remote = req.socket.remoteAddress;
    if (!tls.authorized || name === '' || name === 'user') {
      o.log.warn({ remote, cn }, 'telemetry connection refused: not a machine certificate of this cluster');
      ws.close(POLICY, 'not a machine certificate');
      return;
    }
    if (wss.clients.size > maxConnections) {
      o.log.warn({ remote, machine: name, maxConnections }, 'telemetry connection refused: too many connections');
      ws.close(1013, 'too many connections');
      return;
    }
    ws.on('error', (err) => {
      // ws reports an oversized frame (and other protocol violations) here, then closes the socket.
      o.log.warn({ remote, machine: name, err: err.message }, 'telemetry connection closed: protocol error');
    });
    ws.on('message', (data, isBinary) => {
      const parsed = isBinary ? ({ ok: false, error: 'binary message' } as const) : parseMachineReport(data as Buffer);
      if (!parsed.ok) {
        o.log.warn({ remote, machine: name, err: parsed.error }, 'telemetry connection closed: malformed message');
        ws.close(POLICY, 'malformed message');
        return;
      }
      o.onReport({ ...parsed.value, machine: name });
    });
    const hello = o.greeting?.();
    if (hello) ws.send(JSON.stringify(hello));
  });

  await new Promise<void>((resolve, reject) => {
    https.once('error', reject);
    https.listen(o.port, o.host, () => {
      https.off('error', reject);
      resolve();
    });
  });
  const addr = https.address() as AddressInfo;
  return {
    address: () => ({ host: addr.address, port: addr.port }),
    connections: () => wss.clients.size,
    broadcast: (message) => {
      const text = JSON.stringify(message);
      for (const c of wss.clients) if (c.readyState === c.OPEN) c.send(text);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        https.close(() => resolve());
        https.closeAllConnections();
      }),
  };
}
