// Signing in to an aws-iam broker: the CLI resolves the user's AWS credentials with the SDK's own chain
// (environment, profiles, SSO, credential_process, ...), signs an sts:GetCallerIdentity request with the SDK's
// SigV4 signer for the broker's STS endpoint, with `x-skiff-broker-id` among the signed headers, and sends the
// signed request (not the credentials) to POST /v1/auth/aws. The broker forwards it to STS, which says who
// signed. The user token it answers is kept 0600 under $SKIFF_HOME/auth (one per broker id and credential
// source) and renewed before it expires.
import { createHash, createHmac, randomBytes, type Hash, type Hmac } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../api/errors.js';
import { callBroker } from '../api/client.js';
import { AUTH_AWS_PATH } from '../api/routes.js';
import { BROKER_ID, BROKER_ID_HEADER, GET_CALLER_IDENTITY_BODY, type AwsAuthRequest, type AwsAuthResponse, type HealthResponse, type Principal } from '../api/auth.js';
import { skiffPaths } from '../home.js';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** SHA-256 / HMAC-SHA-256 from node:crypto in the shape the SDK's signer takes (what @smithy/hash-node does). */
class NodeSha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const key = typeof this.secret === 'string' ? this.secret : Buffer.from(ArrayBuffer.isView(this.secret) ? this.secret.buffer.slice(this.secret.byteOffset, this.secret.byteOffset + this.secret.byteLength) : this.secret);
    return createHmac('sha256', key);
  }
  update(data: Uint8Array | string): void {
    this.h.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    this.h = this.fresh();
  }
}

/** The STS endpoint the broker forwards to, as this side sees it (the emulator's when one is configured). */
export function stsUrlFor(region: string, env: { stsEndpointUrl?: string; endpointUrl?: string }): URL {
  return new URL(`${new URL(env.stsEndpointUrl ?? env.endpointUrl ?? `https://sts.${region}.amazonaws.com`).origin}/`);
}

/** A GetCallerIdentity request for `stsUrl`, signed with `keys`, naming `brokerId` in a signed header. */
export async function signIdentityRequest(keys: AwsKeys, o: { brokerId: string; region: string; stsUrl: URL; signingDate?: Date }): Promise<AwsAuthRequest> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const signer = new SignatureV4({ service: 'sts', region: o.region, credentials: keys, sha256: NodeSha256 });
  const signed = await signer.sign(
    {
      method: 'POST', protocol: o.stsUrl.protocol, hostname: o.stsUrl.hostname, ...(o.stsUrl.port ? { port: Number(o.stsUrl.port) } : {}), path: '/', query: {},
      headers: { host: o.stsUrl.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', [BROKER_ID_HEADER]: o.brokerId,
        // Signatures carry the time to the second: two sign-ins in one second (two commands at once) would be one
        // signature, and the broker takes each once. A random signed header makes every sign-in its own.
        'x-skiff-nonce': randomBytes(16).toString('hex') },
      body: GET_CALLER_IDENTITY_BODY,
    },
    o.signingDate ? { signingDate: o.signingDate } : {},
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = String(v);
  return { method: 'POST', url: o.stsUrl.href, headers, body: GET_CALLER_IDENTITY_BODY };
}

/** The user's credentials from the SDK's default chain; none is the user's to fix. */
export async function defaultAwsKeys(): Promise<AwsKeys> {
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  try {
    const c = await defaultProvider({})();
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
  } catch (err) {
    throw new SkiffError('CLI_NO_AWS_CREDENTIALS', `no AWS credentials to sign in with (${(err as Error).message.split('\n')[0]}); configure them (aws configure, AWS_PROFILE, SSO)`);
  }
}

export interface AwsLoginOptions {
  home: string;
  brokerUrl: string;
  health: Pick<HealthResponse, 'brokerId' | 'stsRegion'>;
  /** A digest of what picks the credentials (CliConfig.awsCredentialSource): one sign-in kept per source. */
  credentialSource: string;
  stsEndpointUrl?: string;
  endpointUrl?: string;
  keys?: () => Promise<AwsKeys>;
  now?: () => number;
  /** The transport to the broker (a deployed broker's: pinned to its published CA). */
  fetch?: typeof fetch;
}

interface Cached {
  token: string;
  expiresAt: string;
  /** When it was issued (ms): renewal comes at 80% of its life. */
  issuedAtMs: number;
  principal: Principal;
  brokerUrl: string;
}

export interface AwsTokenSource {
  /** A user token, from the cache while it has a fifth of its life (and a minute) left, else from a fresh sign-in. */
  token(): Promise<string>;
  /** Forget the cached token (the broker refused it). */
  invalidate(): void;
}

export function createAwsTokenSource(o: AwsLoginOptions): AwsTokenSource {
  const brokerId = o.health.brokerId ?? '';
  // The id names a file: only what the broker side allows too.
  if (!BROKER_ID.test(brokerId)) throw new SkiffError('CLI_BROKER_UNREACHABLE', `broker ${o.brokerUrl} says it uses AWS IAM sign-in but names no valid broker id (${JSON.stringify(brokerId).slice(0, 140)})`);
  const now = o.now ?? Date.now;
  const dir = skiffPaths(o.home).authDir;
  const file = join(dir, `${brokerId}.${o.credentialSource}.json`);
  let mem: Cached | undefined;
  const fresh = (c: Cached | undefined): c is Cached => {
    if (!c) return false;
    const exp = Date.parse(c.expiresAt);
    const life = exp - c.issuedAtMs;
    return Number.isFinite(exp) && exp - now() > Math.max(60_000, life / 5);
  };
  const read = (): Cached | undefined => {
    try {
      const c = JSON.parse(readFileSync(file, 'utf8')) as Cached;
      return typeof c.token === 'string' && c.brokerUrl === o.brokerUrl ? c : undefined;
    } catch {
      return undefined;
    }
  };
  const signIn = async (): Promise<Cached> => {
    const keys = await (o.keys ?? defaultAwsKeys)();
    const region = o.health.stsRegion ?? 'us-east-1';
    const stsUrl = stsUrlFor(region, { ...(o.stsEndpointUrl ? { stsEndpointUrl: o.stsEndpointUrl } : {}), ...(o.endpointUrl ? { endpointUrl: o.endpointUrl } : {}) });
    const signed = await signIdentityRequest(keys, { brokerId, region, stsUrl });
    const issuedAtMs = now();
    const res = await callBroker<AwsAuthResponse>(o.brokerUrl, 'POST', AUTH_AWS_PATH, signed, { code: 'CLI_BROKER_UNREACHABLE', timeoutMs: 30_000, ...(o.fetch ? { fetch: o.fetch } : {}) });
    const c: Cached = { token: res.token, expiresAt: res.expiresAt, issuedAtMs, principal: res.principal, brokerUrl: o.brokerUrl };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(`${file}.tmp`, JSON.stringify(c), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    return c;
  };
  return {
    async token() {
      if (!fresh(mem)) mem = read();
      if (!fresh(mem)) mem = await signIn();
      return mem.token;
    },
    invalidate() {
      mem = undefined;
      rmSync(file, { force: true });
    },
  };
}
