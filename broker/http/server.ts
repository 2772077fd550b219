// The broker's HTTP API. JSON in and out, bodies bounded, every route authenticated by the one token
// kind it accepts: user tokens for the CLI, the enrol token (in the body) for /v1/enrol, agent tokens
// for agent events. Errors come back as { error: { code, message } } with a status that fits the code.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import type { AgentBundle } from '../bundle.js';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ERROR_TABLE, SkiffError } from '../api/errors.js';
import type { ClusterService } from '../clusters/types.js';
import type { TokenIssuer } from '../tokens/types.js';
import { AGENT_EVENTS_PATH, AGENT_SCALE_PATH, BOOT_FAILED_PATH, BUNDLE_ROUTE, CLUSTERS_PATH, ENROL_PATH, HEALTH_PATH, NOTIFICATIONS_PATH, TOKEN_PATH } from '../api/routes.js';

const MAX_BODY_BYTES = 1024 * 1024;
/** A boot failure report: the boot log's last lines, as text. */
const MAX_BOOT_REPORT_BYTES = 64 * 1024;

export interface ApiOptions {
  clusters: ClusterService;
  tokens: TokenIssuer;
  /** The long-lived secret that buys short-lived user tokens (local: a 0600 file under $SKIFF_HOME). */
  apiKey: string;
  userTokenTtlS?: number;
  log: Logger;
  version: string;
  /** The agent bundle VMs download (aws backend); not secret, so not authenticated. */
  bundle?: AgentBundle;
}


async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new SkiffError('BRK_BAD_REQUEST', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, MAX_BODY_BYTES);
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new SkiffError('BRK_BAD_REQUEST', 'request body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function bearer(req: IncomingMessage): string {
  const h = req.headers.authorization ?? '';
  if (!h.startsWith('Bearer ')) throw new SkiffError('BRK_UNAUTHORIZED', 'missing bearer token');
  return h.slice('Bearer '.length);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createApiHandler(o: ApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const log = o.log;
  const user = async (req: IncomingMessage): Promise<void> => {
    await o.tokens.verify('user', bearer(req));
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://broker');
    const path = url.pathname;
    const m = req.method ?? 'GET';
    let match: RegExpMatchArray | null;

    if (m === 'GET' && path === HEALTH_PATH) return send(res, 200, { ok: true, version: o.version, pid: process.pid });
    if (m === 'GET' && BUNDLE_ROUTE.test(path)) {
      if (!o.bundle || path !== o.bundle.path) throw new SkiffError('BRK_NOT_FOUND', 'no such agent bundle on this broker');
      res.writeHead(200, { 'content-type': 'application/gzip', 'cache-control': 'public, max-age=31536000, immutable' });
      createReadStream(o.bundle.file).pipe(res);
      return;
    }
    if (m === 'POST' && path === TOKEN_PATH) {
      const body = (await readJson(req)) as { apiKey?: unknown } | undefined;
      const key = typeof body?.apiKey === 'string' ? body.apiKey : '';
      if (!timingSafeEqual(digest(key), digest(o.apiKey))) throw new SkiffError('BRK_UNAUTHORIZED', 'API key not accepted');
      const ttl = o.userTokenTtlS ?? 900;
      return send(res, 200, { token: await o.tokens.mint('user', { sub: 'user' }, ttl), expiresInS: ttl });
    }
    if (m === 'POST' && path === ENROL_PATH) return send(res, 200, await o.clusters.enrol(await readJson(req)));
    if (m === 'POST' && path === BOOT_FAILED_PATH) {
      // Sent by the boot script's error trap with curl: plain text, the step and machine in headers.
      const header = (name: string): string => {
        const v = req.headers[name];
        return (Array.isArray(v) ? v[0] : v) ?? '';
      };
      await o.clusters.bootFailed(bearer(req), {
        machineId: header('x-skiff-machine-id'),
        step: header('x-skiff-step'),
        text: await readBody(req, MAX_BOOT_REPORT_BYTES),
      });
      return send(res, 204);
    }
    if (m === 'POST' && path === AGENT_EVENTS_PATH) {
      await o.clusters.agentEvent(bearer(req), await readJson(req));
      return send(res, 204);
    }
    if (m === 'GET' && path === AGENT_SCALE_PATH) return send(res, 200, await o.clusters.agentScale(bearer(req)));
    if (m === 'GET' && path === NOTIFICATIONS_PATH) {
      await user(req);
      const cluster = url.searchParams.get('cluster') ?? undefined;
      const after = Number(url.searchParams.get('after') ?? 0);
      return send(res, 200, o.clusters.notifications(cluster, Number.isFinite(after) ? after : 0));
    }
    if (path === CLUSTERS_PATH) {
      await user(req);
      if (m === 'GET') return send(res, 200, o.clusters.list());
      if (m === 'POST') return send(res, 201, await o.clusters.create(await readJson(req)));
    }
    if ((match = path.match(/^\/v1\/clusters\/([^/]+)(\/credentials|\/dashboard-token|\/scale|\/adapt)?$/))) {
      await user(req);
      const ref = decodeURIComponent(match[1] ?? '');
      const sub = match[2];
      if (sub === undefined && m === 'GET') return send(res, 200, o.clusters.get(ref));
      if (sub === undefined && m === 'DELETE') {
        const failed = url.searchParams.get('failed');
        return send(res, 200, await o.clusters.down(ref, failed !== null ? { reason: failed.slice(0, 500), failed: true } : {}));
      }
      if (sub === '/credentials' && m === 'POST') return send(res, 200, await o.clusters.userCredentials(ref, await readJson(req)));
      if (sub === '/dashboard-token' && m === 'POST') return send(res, 200, await o.clusters.dashboardToken(ref));
      if (sub === '/scale' && m === 'POST') return send(res, 200, await o.clusters.scale(ref, await readJson(req)));
      if (sub === '/adapt' && m === 'POST') return send(res, 200, await o.clusters.adapt(ref, await readJson(req)));
    }
    throw new SkiffError('BRK_NOT_FOUND', `no route ${m} ${path}`);
  };

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof SkiffError) {
        const status = ERROR_TABLE[err.code].status;
        (status >= 500 ? log.error : log.warn).call(log, { method: req.method, path: req.url?.split('?')[0], code: err.code, ...(status >= 500 ? { err } : { message: err.message }) }, 'request refused');
        send(res, status, { error: { code: err.code, message: err.message } });
      } else {
        log.error({ method: req.method, path: req.url?.split('?')[0], err: (err as Error).stack }, 'request failed');
        send(res, 500, { error: { code: 'BRK_INTERNAL', message: 'internal error; see the broker log' } });
      }
    });
  };
}
