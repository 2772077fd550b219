// A WebSocket that stays connected: reconnects with jittered exponential backoff, and while it is down keeps
// the newest `maxBuffered` messages (dropping the oldest, counted), sending them in order once it is back.
// Used by worker agents (→ the scheduler's telemetry server, mutual TLS) and by the scheduler agent
// (→ the broker, agent token). `downSinceMs()` feeds the local fail-safe.

import type { Logger } from 'pino';
import WebSocket, { type ClientOptions } from 'ws';

export interface LinkOptions {
  url: string;
  /** TLS material, headers (Authorization: Bearer …), handshakeTimeout, maxPayload. */
  wsOptions?: ClientOptions;
  log: Logger;
  /** Default 100 messages (8 min of 5 s summaries). */
  maxBuffered?: number;
  /** Backoff: random() × min(maxDelayMs, baseDelayMs × 2^attempt). Defaults 500 ms and 30 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Default 10 s to open a connection (TLS and upgrade included). */
  connectTimeoutMs?: number;
  random?: () => number;
  now?: () => number;
  /** A message from the other side (e.g. a stop order); optional. */
  onMessage?: (data: string) => void;
}

export interface Link {
  send(message: object): void;
  connected(): boolean;
  /** When the link last went down (or was created, if never up); undefined while up. */
  downSinceMs(): number | undefined;
  stats(): { sent: number; dropped: number; buffered: number; connects: number };
  close(): void;
}

export function createLink(o: LinkOptions): Link {
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const maxBuffered = o.maxBuffered ?? 100;
  const buffer: string[] = [];
  const counts = { sent: 0, dropped: 0, connects: 0 };
  let ws: WebSocket | undefined;
  let open = false;
  let closed = false;
  let attempt = 0;
  let downSince: number | undefined = now();
  let retryTimer: NodeJS.Timeout | undefined;
  let droppedLogged = 0;

  const flush = (): void => {
    while (open && ws && buffer.length > 0) {
      ws.send(buffer.shift()!);
      counts.sent++;
    }
  };

  const schedule = (): void => {
    if (closed) return;
    const delay = Math.floor(random() * Math.min(o.maxDelayMs ?? 30_000, (o.baseDelayMs ?? 500) * 2 ** Math.min(attempt, 20)));
    attempt++;
    retryTimer = setTimeout(connect, delay);
    retryTimer.unref();
  };

  function connect(): void {
    if (closed) return;
    const sock = new WebSocket(o.url, { handshakeTimeout: o.connectTimeoutMs ?? 10_000, ...o.wsOptions });
    ws = sock;
    sock.on('open', () => {
      open = true;
      attempt = 0;
      downSince = undefined;
      counts.connects++;
      o.log.info({ url: o.url, buffered: buffer.length }, 'telemetry link up');
      flush();
    });
    sock.on('message', (data: Buffer) => o.onMessage?.(data.toString('utf8')));
    sock.on('error', (err) => o.log.debug({ url: o.url, err: err.message }, 'telemetry link error'));
    // Our own socket could have been replaced already; only the current one drives the state.
    sock.on('close', (code, reason) => {
      if (ws !== sock) return;
      if (open) o.log.warn({ url: o.url, code, reason: reason.toString().slice(0, 200) }, 'telemetry link down');
      open = false;
      ws = undefined;
      downSince ??= now();
      schedule();
    });
  }

  connect();
  return {
    send(message) {
      if (closed) return;
      buffer.push(JSON.stringify(message));
      if (buffer.length > maxBuffered) {
        buffer.shift();
        counts.dropped++;
        if (counts.dropped - droppedLogged >= 10 || droppedLogged === 0) {
          o.log.warn({ dropped: counts.dropped, maxBuffered }, 'telemetry link down too long; oldest messages dropped');
          droppedLogged = counts.dropped;
        }
      }
      flush();
    },
    connected: () => open,
    downSinceMs: () => downSince,
    stats: () => ({ ...counts, buffered: buffer.length }),
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const s = ws;
      ws = undefined;
      open = false;
      s?.close(1000, 'agent stopping');
      if (s && s.readyState === WebSocket.CONNECTING) s.terminate();
    },
  };
}
