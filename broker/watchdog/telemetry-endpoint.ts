// The broker's end of the scheduler→broker telemetry link: GET /v1/agent/telemetry upgraded to a WebSocket,
// one per cluster, authenticated by the scheduler's agent token (Authorization: Bearer). The token is checked
// before the upgrade: a missing, expired or wrong token gets a 401 and no WebSocket. Every summary is
// schema-checked; a malformed or oversized one closes that connection (logged), never the broker.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TelemetrySummary } from '../api/telemetry.js';
import { parseSummary } from '../api/telemetry-validate.js';


export interface TelemetryEndpointOptions {
  /** Rejects (any error) for a token that is not a valid agent token. */
  verifyAgentToken: (token: string) => Promise<{ cluster: string; role: string }>;
  /** Called for each valid summary (the watchdog's observe). */
  onSummary: (clusterId: string, summary: TelemetrySummary) => void;
  /** The link of a cluster came up or went down (e.g. to show it in status); optional. */
  onLink?: (clusterId: string, up: boolean) => void;
  log: Logger;
  /** Default 16 KiB; a summary is ~400 bytes. */
  maxPayloadBytes?: number;
  /** Default 10 s for the token check. */
  verifyTimeoutMs?: number;
}

export interface TelemetryEndpoint {
  /** For `server.on('upgrade')` when `req.url` is TELEMETRY_PATH. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  connections(): number;
  close(): void;
}

function refuse(socket: Duplex, status: 401 | 403 | 503, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export function createTelemetryEndpoint(o: TelemetryEndpointOptions): TelemetryEndpoint {
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayloadBytes ?? 16 * 1024, clientTracking: true });
  // A reconnecting scheduler replaces its old connection: one link per cluster.
  const byCluster = new Map<string, WebSocket>();

  const handleTelemetryConnection = (ws: WebSocket, clusterId: string, remote: string | undefined): void => {
    byCluster.get(clusterId)?.close(1000, 'replaced by a newer connection');
    byCluster.set(clusterId, ws);
    o.onLink?.(clusterId, true);
    o.log.info({ clusterId, remote }, 'telemetry link up');
    ws.on('error', (err) => o.log.warn({ clusterId, remote, err: err.message }, 'telemetry connection closed: protocol error'));
    ws.on('message', (data, isBinary) => {
      const parsed = isBinary ? ({ ok: false, error: 'binary message' } as const) : parseSummary(data as Buffer);
      if (!parsed.ok) {
        o.log.warn({ clusterId, remote, err: parsed.error }, 'telemetry connection closed: malformed message');
        ws.close(1008, 'malformed message');
        return;
      }
      o.onSummary(clusterId, parsed.value);
    });
    ws.on('close', () => {
      if (byCluster.get(clusterId) !== ws) return;
      byCluster.delete(clusterId);
      o.onLink?.(clusterId, false);
      o.log.info({ clusterId, remote }, 'telemetry link down');
    });
  };

  return {
    handleUpgrade(req, socket, head) {
      const remote = req.socket.remoteAddress;
      socket.on('error', () => undefined);
      const auth = req.headers.authorization;
      const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : '';
      const verified = o.verifyAgentToken(token);
      const timeout = new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error('token check timed out')), o.verifyTimeoutMs ?? 10_000).unref();
      });
      Promise.race([verified, timeout]).then(
        (claims) => {
          if (claims.role !== 'scheduler') {
            o.log.warn({ remote, clusterId: claims.cluster, role: claims.role }, 'telemetry connection refused: only the scheduler agent reports');
            return refuse(socket, 403, 'Forbidden');
          }
          wss.handleUpgrade(req, socket, head, (ws) => handleTelemetryConnection(ws, claims.cluster, remote));
        },
        (err: unknown) => {
          o.log.warn({ remote, err: (err as Error).message }, 'telemetry connection refused: bad agent token');
          refuse(socket, 401, 'Unauthorized');
        },
      );
    },
    connections: () => wss.clients.size,
    close() {
      for (const c of wss.clients) c.terminate();
      byCluster.clear();
      wss.close();
    },
  };
}
