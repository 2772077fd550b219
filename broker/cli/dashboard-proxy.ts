// `skiff dashboard`'s local proxy. A browser cannot verify a cluster's own CA, so users learn to click through a
// warning and a network attacker can take the `?token=` link. This proxy speaks to the gateway over TLS that
// trusts the cluster's CA alone, and holds the gateway session itself (a ticket from the broker, exchanged as a
// browser would): no token and no warning ever reach the browser.
//
//   browser ──http──▶ 127.0.0.1:PORT (this proxy) ──https, ALPN http/1.1, cluster CA only──▶ gateway :443
//
// Other local users reach 127.0.0.1 too: only the browser that opened the one-time link (/?skiff-key=K) gets the
// proxy's cookie, every other request is 401. The Host must be the proxy's own (DNS rebinding), and a WebSocket
// must come from the proxy's own page (Origin); the gateway then sees the Origin it expects of its own page.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { SkiffError } from '../api/errors.js';

export type DashboardProxyOptions = {
  gateway: { host: string; port: number };
  /** The cluster's CA: the only issuer the gateway's certificate may chain to. */
  caPem: string;
  /** A fresh dashboard ticket from the broker. */
  ticket: () => Promise<string>;
  port?: number; // default 0: a free port
  timeoutMs?: number; // default 30_000, on every exchange with the gateway
};

export type DashboardProxy = {
  /** The one-time link that opens a browser session. */
  url: string;
  port: number;
  close(): Promise<void>;
};

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const TLS_TRUST_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ALTNAME|SIGNATURE/;

export async function startDashboardProxy(o: DashboardProxyOptions): Promise<DashboardProxy> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const where = `${o.gateway.host}:${o.gateway.port}`;
  const tlsOptions = { ca: o.caPem, ALPNProtocols: ['http/1.1'] };
  const agent = new Agent({ ...tlsOptions, keepAlive: true, maxSockets: 16, timeout: timeoutMs });
  const refusal = (err: Error & { code?: string }): SkiffError =>
    TLS_TRUST_ERRORS.test(err.code ?? '')
      ? new SkiffError('CLI_DASHBOARD', `the gateway at ${where} presented a certificate that is not from this cluster's CA (${err.code ?? err.message}); refused, nothing was sent to it`, { cause: err, retryable: false })
      : new SkiffError('CLI_DASHBOARD', `cannot reach the cluster's gateway at ${where}: ${err.message}`, { cause: err });

  // The gateway session: a ticket exchanged for its cookie, once, and again when the gateway stops taking it.
  let session: Promise<string> | undefined;
  const openSession = (): Promise<string> => {
    session ??= (async () => {
      const ticket = await o.ticket();
      return new Promise<string>((resolve, reject) => {
        const req = request({ host: o.gateway.host, port: o.gateway.port, path: `/health?token=${encodeURIComponent(ticket)}`, agent, timeout: timeoutMs }, (res) => {
          res.resume();
          const cookie = (res.headers['set-cookie'] ?? [])[0]?.split(';')[0];
          if (res.statusCode === 302 && cookie) resolve(cookie);
          else reject(new SkiffError('CLI_DASHBOARD', `the gateway at ${where} did not take the dashboard ticket (HTTP ${res.statusCode ?? '?'})`));
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', (err) => reject(refusal(err)));
        req.end();
      });
    })();
    session.catch(() => (session = undefined));
    return session;
  };
  await openSession(); // a gateway that is not the cluster's fails the command before anything listens

  const key = randomBytes(24).toString('base64url');
  let keyUsed = false;
  const browserSessions = new Set<string>();
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new SkiffError('CLI_USAGE', `cannot listen on 127.0.0.1:${o.port ?? 0}: ${err.message}; pick another --port`, { cause: err })));
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const cookieName = `skiff_proxy_${port}`;
  const ownHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

  /** The browser session this request carries, and its Cookie header without the proxy's cookie. */
  const local = (headers: IncomingHttpHeaders): { ok: boolean; rest?: string } => {
    let ok = false;
    const rest: string[] = [];
    for (const pair of (headers.cookie ?? '').split(';').map((p) => p.trim()).filter(Boolean)) {
      if (pair.startsWith(`${cookieName}=`)) ok ||= browserSessions.has(pair.slice(cookieName.length + 1));
      else rest.push(pair);
    }
    return rest.length > 0 ? { ok, rest: rest.join('; ') } : { ok };
  };
  const text = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(body);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!ownHosts.has(req.headers.host ?? '')) return text(res, 421, 'skiff dashboard: not this proxy\'s host\n');
    const url = new URL(req.url ?? '/', 'http://proxy');
    if (url.pathname === '/' && url.searchParams.has('skiff-key')) {
      if (keyUsed || url.searchParams.get('skiff-key') !== key) return text(res, 401, 'skiff dashboard: this link was used already; run `skiff dashboard NAME` again for another\n');
      keyUsed = true;
      const value = randomBytes(32).toString('base64url');
      browserSessions.add(value);
      res.writeHead(302, { location: '/', 'set-cookie': `${cookieName}=${value}; HttpOnly; SameSite=Strict; Path=/`, 'cache-control': 'no-store' }).end();
      return;
    }
    const mine = local(req.headers);
    if (!mine.ok) return text(res, 401, 'skiff dashboard: open the link `skiff dashboard NAME` printed\n');
    forward(req, res, mine.rest, true);
  });

  function forward(req: IncomingMessage, res: ServerResponse, cookieRest: string | undefined, mayRetry: boolean): void {
    void openSession().then(
      (cookie) => {
        const headers: IncomingHttpHeaders = { host: req.headers.host ?? '' };
        for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'cookie') headers[k] = v;
        headers.cookie = cookieRest ? `${cookie}; ${cookieRest}` : cookie;
        const up = request({ host: o.gateway.host, port: o.gateway.port, method: req.method ?? 'GET', path: req.url ?? '/', headers, agent, timeout: timeoutMs });
        up.on('timeout', () => up.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        up.on('error', (err) => {
          if (!res.headersSent) text(res, 502, `skiff dashboard: ${refusal(err).message}\n`);
          else res.destroy();
        });
        up.on('response', (answer) => {
          // The session ended (the gateway restarted, or it expired): a new ticket, and the same request once more.
          if (answer.statusCode === 401 && mayRetry && (req.method === 'GET' || req.method === 'HEAD')) {
            answer.resume();
            session = undefined;
            return forward(req, res, cookieRest, false);
          }
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'strict-transport-security') out[k] = v;
          res.writeHead(answer.statusCode ?? 502, out);
          answer.pipe(res);
          answer.on('error', () => res.destroy());
        });
        res.on('close', () => {
          if (!res.writableFinished) up.destroy();
        });
        if (req.method === 'GET' || req.method === 'HEAD') up.end();
        else req.pipe(up);
      },
      (err: Error) => text(res, 502, `skiff dashboard: ${err.message}\n`),
    );
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const host = req.headers.host ?? '';
    const mine = local(req.headers);
    if (!ownHosts.has(host) || !mine.ok || req.headers.origin !== `http://${host}`) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n');
      return;
    }
    void openSession().then(
      (cookie) => {
        const up = tlsConnect({ host: o.gateway.host, port: o.gateway.port, ...tlsOptions });
        up.setTimeout(timeoutMs, () => up.destroy());
        up.once('error', () => socket.destroy());
        up.once('secureConnect', () => {
          up.setTimeout(0);
          const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
          for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
            const name = (req.rawHeaders[i] ?? '').toLowerCase();
            if (name === 'cookie' || name === 'origin') continue;
            lines.push(`${req.rawHeaders[i] ?? ''}: ${req.rawHeaders[i + 1] ?? ''}`);
          }
          // The gateway takes a dashboard WebSocket from its own page only: this proxy's page stands for it.
          lines.push(`Origin: https://${host}`, `Cookie: ${mine.rest ? `${cookie}; ${mine.rest}` : cookie}`);
          up.write(lines.join('\r\n') + '\r\n\r\n');
          if (head.length > 0) up.write(head);
          up.pipe(socket as Socket).pipe(up);
          socket.once('close', () => up.destroy());
          up.once('close', () => socket.destroy());
        });
      },
      () => socket.destroy(),
    );
  });

  return {
    url: `http://127.0.0.1:${port}/?skiff-key=${key}`,
    port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
