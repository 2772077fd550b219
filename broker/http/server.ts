// The broker's HTTP API. JSON in and out, bodies bounded, every route authenticated by the one token
// kind it accepts, read from the Authorization header before any body: the API key for /v1/token (or, on an
// aws-iam broker, the signed identity request that is /v1/auth/aws's body), user tokens for the CLI, the
// enrol token for /v1/enrol and boot reports, agent tokens for agent events. A user token stands for a
// principal; every cluster reference is resolved through the cluster access rules (auth/cluster-access.ts),
// which answer "not found" for a cluster the principal may not act on. Errors come back as
// { error: { code, message } } with a status that fits the code.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import type { AgentBundle } from '../bundle.js';
import type { Logger } from 'pino';
import { ERROR_TABLE, SkiffError, echo } from '../api/errors.js';
import { BROKER_BODY_LIMITS as LIMIT } from '../api/limits.js';
import { readBody, readJson } from './body.js';
import type { ClusterService } from '../clusters/types.js';
import type { TokenIssuer } from '../tokens/types.js';
import { ACCESS_PATH, AGENT_EVENTS_PATH, AGENT_SCALE_PATH, AUTH_AWS_PATH, BOOT_FAILED_PATH, BUNDLE_ROUTE, CLUSTERS_PATH, ENROL_PATH, HEALTH_PATH, NOTIFICATIONS_PATH, TOKEN_PATH } from '../api/routes.js';
import type { HealthResponse, Principal } from '../api/auth.js';
import type { Authenticator } from '../auth/authenticator.js';
import { createClusterAccess } from '../auth/cluster-access.js';

/** Paths named in errors and logs are cut to this many characters. */
const PATH_ECHO_CHARS = 120;
/** After refusing a request whose body was not read, the time left to the client to read the answer. */
const LINGER_MS = 2000;

export interface ApiOptions {
  clusters: ClusterService;
  tokens: TokenIssuer;
  /** Who is asking: the API key's one person (local), or AWS IAM identities (broker/auth/). */
  auth: Authenticator;
  log: Logger;
  version: string;
  /** The agent bundle VMs download (aws backend); not secret, so not authenticated. */
  bundle?: AgentBundle;
  /** Whether this broker leads, for /health. */
  isLeader?: () => boolean;
}


function send(req: IncomingMessage, res: ServerResponse, status: number, body?: unknown): void {
  closeAfter(req, res);
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function bearer(req: IncomingMessage): string {
  const h = req.headers.authorization ?? '';
  if (!h.startsWith('Bearer ')) throw new SkiffError('BRK_UNAUTHORIZED', 'missing bearer token (Authorization: Bearer …)');
  return h.slice('Bearer '.length);
}

/** A path segment, %-decoded; a malformed reference (`%ZZ`) is the client's error. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new SkiffError('BRK_BAD_REQUEST', `path segment ${echo(s)} is not valid percent-encoding`);
  }
}

/**
 * A request refused before its body was read: the answer says the connection closes, Node discards what
 * else arrives, and the socket is destroyed soon after even if the client keeps sending.
 */
function closeAfter(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  res.shouldKeepAlive = false;
  res.once('finish', () => {
    setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  });
}

export function createApiHandler(o: ApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const log = o.log;
  const user = (req: IncomingMessage): Promise<Principal> => o.auth.principal(bearer(req));
  const access = createClusterAccess(o.clusters);

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://broker');
    } catch {
      throw new SkiffError('BRK_BAD_REQUEST', `request target ${echo(req.url, PATH_ECHO_CHARS)} is not a valid path`);
    }
    const path = url.pathname;
    const m = req.method ?? 'GET';
    let match: RegExpMatchArray | null;

    if (m === 'GET' && path === HEALTH_PATH) return send(req, res, 200, { ok: true, version: o.version, pid: process.pid, ...o.auth.health(), ...(o.isLeader ? { leader: o.isLeader() } : {}) } satisfies HealthResponse);
    if (m === 'GET' && BUNDLE_ROUTE.test(path)) {
      if (!o.bundle || path !== o.bundle.path) throw new SkiffError('BRK_NOT_FOUND', 'no such agent bundle on this broker');
      res.writeHead(200, { 'content-type': 'application/gzip', 'cache-control': 'public, max-age=31536000, immutable' });
      createReadStream(o.bundle.file).pipe(res);
      return;
    }
    // Every route below checks its credentials from the headers first and reads a body (at most its own
    // cap) only once they hold.
    if (m === 'POST' && path === TOKEN_PATH) {
      // The API key comes as the bearer; the body is never read.
      const key = (req.headers.authorization ?? '').startsWith('Bearer ') ? bearer(req) : '';
      return send(req, res, 200, await o.auth.exchangeApiKey(key));
    }
    // The credential is the body itself (a signed STS request, bounded), checked before anything is sent anywhere.
    if (m === 'POST' && path === AUTH_AWS_PATH) return send(req, res, 200, await o.auth.exchangeAwsIdentity(await readJson(req, LIMIT.awsAuth)));
    if (path === ACCESS_PATH || path.startsWith(`${ACCESS_PATH}/`)) {
      const p = await user(req);
      if (m === 'GET' && path === ACCESS_PATH) return send(req, res, 200, await o.auth.listGrants(p));
      if (m === 'POST' && path === ACCESS_PATH) {
        const body = (await readJson(req, LIMIT.access)) as { pattern?: unknown; admin?: unknown } | null;
        if (typeof body?.pattern !== 'string' || (body.admin !== undefined && typeof body.admin !== 'boolean')) {
          throw new SkiffError('BRK_BAD_REQUEST', 'a grant is { "pattern": ARN or prefix*, "admin": true|false }');
        }
        return send(req, res, 200, await o.auth.grant(p, body.pattern, body.admin === true));
      }
      if (m === 'DELETE' && path !== ACCESS_PATH) {
        await o.auth.revoke(p, decodeSegment(path.slice(ACCESS_PATH.length + 1)));
        return send(req, res, 204);
      }
    }
    if (m === 'POST' && path === ENROL_PATH) {
      const token = bearer(req);
      await o.tokens.verify('enrol', token);
      const body = await readJson(req, LIMIT.enrol);
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new SkiffError('BRK_BAD_REQUEST', 'enrolment needs a JSON object body');
      const claimed = (body as { token?: unknown }).token;
      if (claimed !== undefined && claimed !== token) throw new SkiffError('BRK_BAD_REQUEST', 'the enrol token in the body differs from the bearer token');
      return send(req, res, 200, await o.clusters.enrol({ ...body, token }));
    }
    if (m === 'POST' && path === BOOT_FAILED_PATH) {
      // Sent by the boot script's error trap with curl (and by an agent that could not enrol): plain text, the
      // step, the machine and its identity in headers.
      const token = bearer(req);
      await o.tokens.verify('enrol', token);
      const header = (name: string): string => {
        const v = req.headers[name];
        return (Array.isArray(v) ? v[0] : v) ?? '';
      };
      // The machine's proof of identity as IMDS served it: the document base64 (it spans lines), the signature.
      const document = header('x-skiff-identity-document');
      const signature = header('x-skiff-identity-signature');
      await o.clusters.bootFailed(token, {
        machineId: header('x-skiff-machine-id'),
        step: header('x-skiff-step'),
        text: await readBody(req, LIMIT.bootFailed),
        ...(document !== '' || signature !== '' ? { identity: { document: Buffer.from(document, 'base64').toString('utf8'), signature: signature.replace(/\s+/g, '') } } : {}),
      });
      return send(req, res, 204);
    }
    if (m === 'POST' && path === AGENT_EVENTS_PATH) {
      const token = bearer(req);
      await o.tokens.verify('agent', token);
      await o.clusters.agentEvent(token, await readJson(req, LIMIT.agentEvent));
      return send(req, res, 204);
    }
    if (m === 'GET' && path === AGENT_SCALE_PATH) {
      const token = bearer(req);
      await o.tokens.verify('agent', token);
      return send(req, res, 200, await o.clusters.agentScale(token));
    }
    if (m === 'GET' && path === NOTIFICATIONS_PATH) {
      const p = await user(req);
      const cluster = url.searchParams.get('cluster') ?? undefined;
      const after = Number(url.searchParams.get('after') ?? 0);
      return send(req, res, 200, await access.notifications(p, cluster, Number.isFinite(after) ? after : 0, url.searchParams.get('all') === '1'));
    }
    if (path === CLUSTERS_PATH) {
      const p = await user(req);
      if (m === 'GET') return send(req, res, 200, await access.list(p, url.searchParams.get('all') === '1'));
      if (m === 'POST') return send(req, res, 201, await o.clusters.create(await readJson(req, LIMIT.clusterCreate), { owner: p.id }));
    }
    if ((match = path.match(/^\/v1\/clusters\/([^/]+)(\/credentials|\/dashboard-token|\/scale|\/adapt)?$/))) {
      const p = await user(req);
      // The one owner check of every route below: `ref` is the id of a cluster this principal may act on.
      const ref = await access.resolve(p, decodeSegment(match[1] ?? ''));
      const sub = match[2];
      if (sub === undefined && m === 'GET') return send(req, res, 200, await o.clusters.get(ref));
      if (sub === undefined && m === 'DELETE') {
        const failed = url.searchParams.get('failed');
        return send(req, res, 200, await o.clusters.down(ref, failed !== null ? { reason: failed.slice(0, 500), failed: true } : {}));
      }
      if (sub === '/credentials' && m === 'POST') return send(req, res, 200, await o.clusters.userCredentials(ref, await readJson(req, LIMIT.credentials)));
      if (sub === '/dashboard-token' && m === 'POST') return send(req, res, 200, await o.clusters.dashboardToken(ref));
      if (sub === '/scale' && m === 'POST') return send(req, res, 200, await o.clusters.scale(ref, await readJson(req, LIMIT.scale)));
      if (sub === '/adapt' && m === 'POST') return send(req, res, 200, await o.clusters.adapt(ref, await readJson(req, LIMIT.scale)));
    }
    throw new SkiffError('BRK_NOT_FOUND', `no route ${echo(m, 16)} ${echo(path, PATH_ECHO_CHARS)}`);
  };

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof SkiffError) {
        const status = ERROR_TABLE[err.code].status;
        (status >= 500 ? log.error : log.warn).call(log, { method: req.method, path: req.url?.split('?')[0]?.slice(0, PATH_ECHO_CHARS), code: err.code, ...(status >= 500 ? { err } : { message: err.message }) }, 'request refused');
        send(req, res, status, { error: { code: err.code, message: err.message.slice(0, 2000) } });
      } else {
        log.error({ method: req.method, path: req.url?.split('?')[0]?.slice(0, PATH_ECHO_CHARS), err: (err as Error).stack }, 'request failed');
        send(req, res, 500, { error: { code: 'BRK_INTERNAL', message: 'internal error; see the broker log' } });
      }
    });
  };
}
