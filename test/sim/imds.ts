// IMDSv2 on 169.254.169.254:80 in the outer namespace: one HTTP server for every VM, the instance known by the
// request's source address (a VM's private address: the NAT never rewrites link-local traffic).
//
// As the EC2 User Guide documents it ("Use the Instance Metadata Service to access instance metadata",
// "How Instance Metadata Service Version 2 works"):
//   PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds: 1..21600 → a token (400 if the header is
//   missing or out of range; 403 if the request carries X-Forwarded-For, which IMDSv2 refuses);
//   every GET needs X-aws-ec2-metadata-token: 401 without one or with an expired one, as with HttpTokens=required
//   (the simulator always requires it, so code that still speaks IMDSv1 fails here as on a hardened instance);
//   a token works only on the instance that asked for it; a directory answers its listing, one entry a line.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { lookupMetadata, type MdDir } from './imds-tree.js';

const MAX_TTL_S = 21_600;
const MAX_TOKENS = 10_000;
const VERSION_RE = /^(latest|\d{4}-\d{2}-\d{2}|1\.0)$/;

export interface ImdsDeps {
  /** The metadata of the instance with this private address, or undefined. */
  metadataFor(sourceIp: string): { instanceId: string; tree: () => MdDir } | undefined;
  now?: () => number;
}

/** IMDS answers errors with a small XHTML page (e.g. `<title>401 - Unauthorized</title>`). */
function fail(res: ServerResponse, status: number, text: string): void {
  const body =
    '<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n' +
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n' +
    ` <head>\n  <title>${status} - ${text}</title>\n </head>\n <body>\n  <h1>${status} - ${text}</h1>\n </body>\n</html>\n`;
  res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), Server: 'EC2ws' });
  res.end(body);
}

function ok(res: ServerResponse, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), Server: 'EC2ws', ...headers });
  res.end(body);
}

export function createImdsServer(deps: ImdsDeps): Server {
  const now = deps.now ?? Date.now;
  const tokens = new Map<string, { instanceId: string; expiresAt: number }>();

  const issue = (req: IncomingMessage, res: ServerResponse, instanceId: string) => {
    if (req.headers['x-forwarded-for'] !== undefined) return fail(res, 403, 'Forbidden');
    const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const ttl = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!(ttl >= 1 && ttl <= MAX_TTL_S)) return fail(res, 400, 'Bad Request');
    if (tokens.size >= MAX_TOKENS) {
      for (const [t, v] of tokens) if (v.expiresAt <= now()) tokens.delete(t);
      // Still full: forget the oldest, as a bounded cache must.
      while (tokens.size >= MAX_TOKENS) tokens.delete(tokens.keys().next().value ?? '');
    }
    const token = `AQAEA${randomBytes(42).toString('base64url')}`;
    tokens.set(token, { instanceId, expiresAt: now() + ttl * 1000 });
    ok(res, token, { 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': String(ttl) });
  };

  return createServer((req, res) => {
    const source = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const inst = deps.metadataFor(source);
    if (!inst) return fail(res, 403, 'Forbidden');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const [version, ...rest] = path.split('/').filter(Boolean);
    if (req.method === 'PUT') {
      if (version === 'latest' && rest.join('/') === 'api/token') return issue(req, res, inst.instanceId);
      return fail(res, 403, 'Forbidden');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'Method Not Allowed');
    const token = req.headers['x-aws-ec2-metadata-token'];
    const held = typeof token === 'string' ? tokens.get(token) : undefined;
    if (!held || held.expiresAt <= now() || held.instanceId !== inst.instanceId) return fail(res, 401, 'Unauthorized');
    if (version === undefined) return ok(res, 'latest');
    if (!VERSION_RE.test(version)) return fail(res, 404, 'Not Found');
    const found = lookupMetadata(inst.tree(), rest.join('/'));
    switch (found.kind) {
      case 'missing':
        return fail(res, 404, 'Not Found');
      case 'dir':
      case 'value':
        return ok(res, found.body);
    }
  });
}
