// Each person is their IAM identity. The CLI signs sts:GetCallerIdentity (with `x-skiff-broker-id` among the
// signed headers) and sends the signed request here; the broker checks it (signed-request.ts), accepts each
// signature once (replay-cache.ts), forwards exactly those bytes to its own STS endpoint (sts-forward.ts),
// and STS says who signed. An assumed-role session counts as its role (caller-arn.ts). A caller of another
// account, or one no grant covers, is refused; everyone else gets a short-lived user token for their principal.
import type { Logger } from 'pino';
import { SkiffError } from '../api/errors.js';
import type { AwsAuthResponse, Principal } from '../api/auth.js';
import type { TokenIssuer } from '../tokens/types.js';
import type { Authenticator } from './authenticator.js';
import { principalFromArn } from './caller-arn.js';
import { createGrants, type GrantStore } from './grants.js';
import { createReplayCache, type ReplayCache } from './replay-cache.js';
import { checkSignedRequest } from './signed-request.js';
import { parseCallerIdentity, sendToSts, type StsSender } from './sts-forward.js';

export interface AwsIamAuthOptions {
  brokerId: string;
  /** The AWS account this broker serves. */
  account: string;
  stsRegion: string;
  /** Its STS endpoint: https://sts.REGION.amazonaws.com, or an emulator's (AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL). */
  stsUrl: URL;
  store: GrantStore;
  tokens: TokenIssuer;
  log: Logger;
  /** Default 1 h: a renewal costs the CLI one signature; grants are checked again on every request anyway. */
  userTokenTtlS?: number;
  stsTimeoutMs?: number;
  grantCacheMs?: number;
  now?: () => Date;
  sendToSts?: StsSender;
  replay?: ReplayCache;
}

/** The STS endpoint the broker forwards to, from the same settings the rest of skiff reads. */
export function stsEndpointFor(region: string, env: { stsEndpointUrl?: string; endpointUrl?: string }): URL {
  const raw = env.stsEndpointUrl ?? env.endpointUrl ?? `https://sts.${region}.amazonaws.com`;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
    return new URL(`${u.origin}/`);
  } catch {
    throw new SkiffError('BRK_CONFIG', `STS endpoint ${JSON.stringify(raw)} is not an http(s) URL (AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL)`);
  }
}

export function notGrantedMessage(id: string, brokerId: string): string {
  return `${id} may not use skiff broker ${brokerId}: no access grant covers it; ask an admin of this broker to run \`skiff access grant ${id}\``;
}

export function createAwsIamAuth(o: AwsIamAuthOptions): Authenticator {
  const now = o.now ?? (() => new Date());
  const ttl = o.userTokenTtlS ?? 3600;
  const send = o.sendToSts ?? sendToSts;
  const replay = o.replay ?? createReplayCache();
  const grants = createGrants({ store: o.store, account: o.account, now, ...(o.grantCacheMs !== undefined ? { cacheMs: o.grantCacheMs } : {}) });
  const log = o.log;

  return {
    mode: 'aws-iam',
    health: () => ({ auth: 'aws-iam', brokerId: o.brokerId, stsRegion: o.stsRegion }),
    exchangeApiKey: () => Promise.reject(new SkiffError('BRK_UNAUTHORIZED', `broker ${o.brokerId} takes no API key: each person signs in with their AWS identity (the skiff CLI does it by itself)`)),

    async exchangeAwsIdentity(body): Promise<AwsAuthResponse> {
      const t = now().getTime();
      const req = checkSignedRequest(body, { brokerId: o.brokerId, stsUrl: o.stsUrl, stsRegion: o.stsRegion, nowMs: t });
      if (!replay.firstUse(req.signature, req.signedAtMs, t)) {
        throw new SkiffError('BRK_UNAUTHORIZED', 'signed identity request refused: this signature was used before; each sign-in needs a fresh one');
      }
      const who = parseCallerIdentity(await send(o.stsUrl, req.headers, req.body, o.stsTimeoutMs ?? 10_000));
      if (who.account !== o.account) {
        throw new SkiffError('BRK_FORBIDDEN', `${who.arn} is of AWS account ${who.account}, and broker ${o.brokerId} serves account ${o.account}: use credentials of account ${o.account}`);
      }
      const caller = principalFromArn(who.arn);
      const grant = await grants.find(caller.id);
      if (!grant) {
        log.warn({ principal: caller.id, person: caller.person }, 'sign-in refused: not granted');
        throw new SkiffError('BRK_FORBIDDEN', notGrantedMessage(caller.id, o.brokerId));
      }
      const principal: Principal = { ...caller, admin: grant.admin };
      const token = await o.tokens.mint('user', { sub: principal.id, person: principal.person, account: principal.account, admin: principal.admin, auth: 'aws-iam', broker: o.brokerId }, ttl);
      log.info({ principal: principal.id, person: principal.person, admin: principal.admin }, 'signed in');
      return { token, expiresInS: ttl, expiresAt: new Date(t + ttl * 1000).toISOString(), principal };
    },

    async principal(token) {
      const v = await o.tokens.verify('user', token);
      if (v.claims['auth'] !== 'aws-iam' || v.claims['broker'] !== o.brokerId) {
        throw new SkiffError('BRK_TOKEN_INVALID', `this user token was not issued by broker ${o.brokerId} for an AWS identity; sign in again`);
      }
      // Checked again on every request: a revoked principal's token stops working (within the grant cache).
      const grant = await grants.find(v.sub);
      if (!grant) throw new SkiffError('BRK_FORBIDDEN', notGrantedMessage(v.sub, o.brokerId));
      const person = typeof v.claims['person'] === 'string' ? v.claims['person'] : v.sub;
      return { id: v.sub, person, account: o.account, admin: grant.admin };
    },

    listGrants: (by) => grants.list(by),
    grant: (by, pattern, admin) => grants.grant(by, pattern, admin),
    revoke: (by, pattern) => grants.revoke(by, pattern),
  };
}
