// IMDSv2, the EC2 instance metadata service, shared by the agent (its identity document) and the deployed broker
// (its own addresses): a session token first (PUT /latest/api/token), then GETs carrying it. Every request has a
// timeout and every answer a size bound; the caller names the error code its part raises.
import { SkiffError, type ErrorCode } from './errors.js';

export interface ImdsOptions {
  /** Default http://169.254.169.254 (IMDS); tests point it at a stand-in (SKIFF_IMDS_URL). */
  baseUrl?: string;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** What a failure is raised as (AGT_ENROL_FAILED for the agent, BRK_CONFIG for the broker). */
  code: ErrorCode;
}

export interface ImdsClient {
  /** The text at `path` (e.g. /latest/meta-data/local-ipv4); a 404 is `undefined` when `optional`. */
  get(path: string, opts?: { optional?: boolean }): Promise<string | undefined>;
}

/** Metadata values are a few hundred bytes; anything far larger is not IMDS. */
const MAX_BYTES = 16 * 1024;
/** The session token is asked for 300 s and renewed well before. */
const TOKEN_TTL_S = 300;
const TOKEN_REUSE_MS = 240_000;

export function createImdsClient(o: ImdsOptions): ImdsClient {
  const base = (o.baseUrl ?? 'http://169.254.169.254').replace(/\/+$/, '');
  const f = o.fetch ?? fetch;
  const timeoutMs = o.timeoutMs ?? 5000;
  let session: { token: string; until: number } | undefined;
  const call = async (method: 'GET' | 'PUT', path: string, headers: Record<string, string>, optional: boolean): Promise<string | undefined> => {
    let res: Response;
    let text: string;
    try {
      res = await f(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (cause) {
      throw new SkiffError(o.code, `instance metadata ${path} unreachable: ${(cause as Error).message}`, { cause, retryable: true });
    }
    if (optional && res.status === 404) return undefined;
    if (!res.ok || text.length > MAX_BYTES) {
      throw new SkiffError(o.code, `instance metadata ${path} answered HTTP ${res.status}${text.length > MAX_BYTES ? ` with ${text.length} bytes` : ''}`, { retryable: res.status >= 500 || res.status === 429 });
    }
    return text;
  };
  return {
    async get(path, opts = {}) {
      if (!session || Date.now() >= session.until) {
        const token = (await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_S) }, false)) ?? '';
        session = { token, until: Date.now() + TOKEN_REUSE_MS };
      }
      return call('GET', path, { 'X-aws-ec2-metadata-token': session.token }, opts.optional ?? false);
    },
  };
}
