// The gateway's data-access route: an in-process TLS server (never listening itself; the gateway hands it the
// sockets whose ClientHello offered ALPN skiff-data/1) where the user's CLI delivers its AWS credentials and
// secret variables straight to the cluster. Mutual TLS: only a certificate of this cluster's CA with the user
// profile's name (user.<clusterId>) gets past the handshake check; node certificates and other clusters' are
// refused. The payload goes to the agent's memory; nothing of it is logged.
//
//   POST /v1/data-access  {"aws": {...}, "secretEnv": {...}}  →  204 · 400 malformed · 403 not the user · 413 too big
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { DATA_ACCESS_ALPN, DATA_ACCESS_PATH, MAX_DATA_PAYLOAD_BYTES } from '../../broker/api/data-access.js';
import { INTERMEDIATE_TLS } from './tls-policy.js';
import { enforceRequestDeadlines } from './request-deadlines.js';

export interface DataAccessRoute {
  /** The cluster CA (the user's certificate chains to it). */
  caPem: string;
  clusterId: string;
  /** Checks and keeps the payload; throws (with a message for the client) when it is malformed. */
  onPayload: (raw: unknown) => Promise<void> | void;
}

export function createDataAccessServer(o: DataAccessRoute & { tls: { certPem: string; keyPem: string; chainPem?: string }; handshakeTimeoutMs: number; headersTimeoutMs: number; idleTimeoutMs: number; log: Logger }): Server {
  const server = createServer({
    ...INTERMEDIATE_TLS,
    cert: o.tls.chainPem !== undefined ? `${o.tls.certPem.trim()}\n${o.tls.chainPem.trim()}\n` : o.tls.certPem,
    key: o.tls.keyPem,
    ca: o.caPem,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [DATA_ACCESS_ALPN],
    handshakeTimeout: o.handshakeTimeoutMs,
    keepAliveTimeout: 1_000,
  });
  enforceRequestDeadlines(server, { headersTimeoutMs: o.headersTimeoutMs, idleTimeoutMs: o.idleTimeoutMs });
  server.on('request', (req, res) => {
    const reply = (code: number, message?: string): void => {
      res.writeHead(code, { 'content-type': 'application/json', connection: 'close' }).end(message !== undefined ? JSON.stringify({ error: { message } }) : undefined);
    };
    const tls = req.socket as TLSSocket;
    const cn = tls.getPeerCertificate().subject?.CN;
    if (!tls.authorized || cn !== `user.${o.clusterId}`) {
      o.log.warn({ remote: req.socket.remoteAddress, cn }, 'data access refused: not the user certificate of this cluster');
      return reply(403, 'only the cluster\'s user certificate delivers data access');
    }
    if (req.method !== 'POST' || req.url !== DATA_ACCESS_PATH) return reply(404, `POST ${DATA_ACCESS_PATH} only`);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_DATA_PAYLOAD_BYTES) {
        if (!over) reply(413, `a data-access payload is at most ${MAX_DATA_PAYLOAD_BYTES} bytes`);
        over = true;
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      void (async () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reply(400, 'the payload is not JSON');
        }
        try {
          await o.onPayload(body);
          reply(204);
        } catch (err) {
          reply(400, (err as Error).message);
        }
      })();
    });
  });
  return server;
}
