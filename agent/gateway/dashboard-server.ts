// The gateway's HTTPS side: an in-process TLS server (never listening itself; the gateway hands it sockets
// whose ClientHello asked for HTTP) that terminates TLS with the gateway certificate and reverse-proxies to
// the scheduler's HTTP endpoints, only for a valid dashboard token (a single-use ticket in the query,
// exchanged for a session cookie) and only what dashboard-policy.ts allows, with security headers on all.
// A connection is trusted (onTrusted) by its first request with a valid ticket or session; a request without
// one is answered 401 and its connection closed.
import { request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { DASHBOARD_COOKIE, UNAUTHORIZED_BODY, dashboardCookie, splitTarget, takeDashboardCookie } from './dashboard-auth.js';
import { SECURITY_HEADERS, checkDashboardRequest } from './dashboard-policy.js';
import { INTERMEDIATE_TLS } from './tls-policy.js';
import { createDashboardSessions, type DashboardSessions } from './dashboard-sessions.js';
import { pipeSockets } from './pipe-sockets.js';
import { enforceRequestDeadlines } from './request-deadlines.js';

export type DashboardServerOptions = {
  /** The scheduler's HTTP server; `headers` (its guard's token) replace any of the same name a browser sent. */
  httpTarget: { host: string; port: number; headers?: Readonly<Record<string, string>> };
  tls: { certPem: string; keyPem: string; chainPem?: string };
  verifyDashboardToken: (token: string) => Promise<boolean>;
  /** The session cookie's name (default skiff_dashboard; the agent names it per cluster). */
  cookieName?: string;
  sessions?: DashboardSessions;
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  verifyTimeoutMs: number;
  upstreamTimeoutMs: number;
  log: Logger;
  // Every upstream socket opened for a websocket, so the gateway can destroy it on close().
  track: (socket: Socket) => void;
  /** This TLS socket's request showed a valid ticket or session. */
  onTrusted?: (socket: Socket) => void;
};

// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded; Node sets its own framing.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function createDashboardServer(opts: DashboardServerOptions): Server {
  const { log } = opts;
  const cookieName = opts.cookieName ?? DASHBOARD_COOKIE;
  const sessions = opts.sessions ?? createDashboardSessions();
  const server = createServer({
    ...INTERMEDIATE_TLS,
    // The full chain (the gateway's certificate, then its CA's), so a client holding only the root verifies it.
    cert: opts.tls.chainPem !== undefined ? `${opts.tls.certPem.trim()}\n${opts.tls.chainPem.trim()}\n` : opts.tls.certPem,
    key: opts.tls.keyPem,
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: opts.handshakeTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
  });
  enforceRequestDeadlines(server, { headersTimeoutMs: opts.headersTimeoutMs, idleTimeoutMs: opts.idleTimeoutMs, onTimeout: () => log.debug({}, 'dashboard request headers too slow; closed') });
  const trust = (socket: Socket): void => {
    try {
      opts.onTrusted?.(socket);
    } catch (err) {
      log.warn({ err: String(err) }, 'trust listener threw');
    }
  };

  const verify = async (token: string): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), opts.verifyTimeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([opts.verifyDashboardToken(token).then((ok) => ok === true), timeout]);
    } catch (err) {
      log.debug({ err: String(err) }, 'dashboard token verification failed');
      return false;
    } finally {
      clearTimeout(timer);
    }
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handleRequest(req, res).catch((err: unknown) => {
      log.warn({ err: String(err) }, 'dashboard request failed');
      if (!res.headersSent) sendText(res, 500, 'skiff gateway: internal error\n');
      else res.destroy();
    });
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = splitTarget(req.url ?? '');
    if (target === undefined) return sendText(res, 400, 'skiff gateway: bad request target\n');
    // Dask's HTTP API (retire workers, ...) is for the scheduler's own agent on loopback, never from outside.
    if (target.path === '/api' || target.path.startsWith('/api/')) return sendText(res, 404, 'skiff gateway: not served here\n');
    if (target.token !== undefined) {
      if (!(await verify(target.token))) return unauthorized(res, target.path);
      if (!sessions.spendTicket(target.token)) {
        log.debug({ path: target.path }, 'dashboard ticket used again');
        return sendText(res, 401, `skiff: this dashboard link was used already (a link opens the dashboard once).\n${UNAUTHORIZED_BODY}`, true);
      }
      trust(req.socket);
      res.writeHead(302, {
        ...SECURITY_HEADERS,
        location: target.path + target.query,
        'set-cookie': dashboardCookie(sessions.open(), cookieName),
        'cache-control': 'no-store',
        'content-length': '0',
      });
      res.end();
      return;
    }
    const cookie = takeDashboardCookie(req.headers.cookie, cookieName);
    if (cookie.token === undefined || !sessions.valid(cookie.token)) return unauthorized(res, target.path);
    trust(req.socket);
    const allowed = checkDashboardRequest({ method: req.method ?? 'GET', path: target.path, query: target.query, upgrade: false, host: req.headers.host, origin: req.headers.origin });
    if (!allowed.ok) return forbidden(res, allowed.reason);
    proxy(req, res, target.path + target.query, cookie.rest);
  }

  function forbidden(res: ServerResponse, reason: string): void {
    log.debug({ reason }, 'dashboard request refused');
    sendText(res, 403, `skiff gateway: refused: ${reason}\n`);
  }

  function unauthorized(res: ServerResponse, path: string): void {
    log.debug({ path }, 'dashboard request without a valid token');
    sendText(res, 401, UNAUTHORIZED_BODY, true);
  }

  function proxy(req: IncomingMessage, res: ServerResponse, path: string, cookieRest: string | undefined): void {
    const headers = forwardHeaders(req, cookieRest);
    const upstream = request({
      host: opts.httpTarget.host,
      port: opts.httpTarget.port,
      method: req.method ?? 'GET',
      path,
      headers,
      timeout: opts.upstreamTimeoutMs,
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (err) => {
      log.debug({ path, err: String(err) }, 'dashboard upstream failed');
      if (!res.headersSent) sendText(res, 502, 'skiff gateway: the scheduler dashboard did not answer\n');
      else res.destroy();
    });
    upstream.on('response', (up) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      }
      Object.assign(out, SECURITY_HEADERS);
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
      up.on('error', () => res.destroy());
    });
    // The browser went away: stop the upstream request too (a no-op once it completed).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      handleUpgrade(req, socket, head);
    } catch {
      socket.destroy();
    }
  });

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = splitTarget(req.url ?? '');
    const cookie = takeDashboardCookie(req.headers.cookie, cookieName);
    if (target === undefined || cookie.token === undefined || !sessions.valid(cookie.token)) {
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${UNAUTHORIZED_BODY}`);
      return;
    }
    trust(req.socket);
    // A session's WebSocket: the dashboard's updates may pause for longer than the idle deadline, and it is the
    // user's. Its upstream is bounded by the scheduler closing it.
    req.socket.setTimeout(0);
    const allowed = checkDashboardRequest({ method: req.method ?? 'GET', path: target.path, query: target.query, upgrade: true, host: req.headers.host, origin: req.headers.origin });
    if (!allowed.ok) {
      log.debug({ reason: allowed.reason }, 'dashboard WebSocket refused');
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nskiff gateway: refused: ${allowed.reason}\n`);
      return;
    }
    const upstream = connect({ host: opts.httpTarget.host, port: opts.httpTarget.port, allowHalfOpen: true });
    opts.track(upstream);
    upstream.setTimeout(opts.upstreamTimeoutMs, () => upstream.destroy());
    upstream.once('error', () => socket.destroy());
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      upstream.setNoDelay(true);
      const lines = [`${req.method ?? 'GET'} ${target.path + target.query} HTTP/1.1`];
      const own = upstreamHeaders();
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i] ?? '';
        if (name.toLowerCase() === 'cookie' || own.has(name.toLowerCase())) continue;
        lines.push(`${name}: ${req.rawHeaders[i + 1] ?? ''}`);
      }
      for (const [k, v] of own) lines.push(`${k}: ${v}`);
      if (cookie.rest !== undefined) lines.push(`Cookie: ${cookie.rest}`);
      lines.push(`X-Forwarded-Proto: https`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      pipeSockets(socket as Socket, upstream);
    });
  }

  /** The headers the scheduler's HTTP server requires, by lower-case name. */
  function upstreamHeaders(): Map<string, string> {
    return new Map(Object.entries(opts.httpTarget.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  }

  function forwardHeaders(req: IncomingMessage, cookieRest: string | undefined): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = {};
    const own = upstreamHeaders();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'cookie' && !own.has(k)) headers[k] = v;
    }
    for (const [k, v] of own) headers[k] = v;
    if (cookieRest !== undefined) headers.cookie = cookieRest;
    const remote = req.socket.remoteAddress;
    if (remote !== undefined) headers['x-forwarded-for'] = remote;
    headers['x-forwarded-proto'] = 'https';
    return headers;
  }

  return server;
}

/** `close`: the connection showed nothing valid, so it ends with this answer. */
function sendText(res: ServerResponse, status: number, body: string, close = false): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...(close ? { connection: 'close' } : {}),
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  });
  res.end(body);
}
