// How the broker knows who is asking. Two modes behind one shape:
//   api-key  the local broker's: one long-lived key (0600 under $SKIFF_HOME) buys user tokens; it is one
//            person's, the principal `local`, an admin.
//   aws-iam  each person is their IAM identity (aws-iam.ts): a signed sts:GetCallerIdentity buys a user
//            token for that principal, if an access grant covers it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { SkiffError } from '../api/errors.js';
import { LOCAL_PRINCIPAL, type AccessGrantView, type AuthMode, type AwsAuthResponse, type HealthResponse, type Principal } from '../api/auth.js';
import type { TokenIssuer } from '../tokens/types.js';

export interface Authenticator {
  readonly mode: AuthMode;
  /** What GET /v1/health says about authentication. */
  health(): Pick<HealthResponse, 'auth' | 'brokerId' | 'stsRegion'>;
  /** POST /v1/token: the API key for a user token. */
  exchangeApiKey(key: string): Promise<{ token: string; expiresInS: number }>;
  /** POST /v1/auth/aws: a signed identity request for a user token. */
  exchangeAwsIdentity(body: unknown): Promise<AwsAuthResponse>;
  /** Who a user token stands for; refused when that principal may no longer use the broker. */
  principal(userToken: string): Promise<Principal>;
  /** Access grants (aws-iam only; admins only). */
  listGrants(by: Principal): Promise<AccessGrantView[]>;
  grant(by: Principal, pattern: string, admin: boolean): Promise<AccessGrantView>;
  revoke(by: Principal, pattern: string): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

const notHere = (what: string) => () =>
  Promise.reject(new SkiffError('BRK_BAD_REQUEST', `${what} is for a broker started with --auth aws-iam; this one uses its API key (one person's)`));

export function createApiKeyAuth(o: { apiKey: string; tokens: TokenIssuer; userTokenTtlS?: number }): Authenticator {
  const ttl = o.userTokenTtlS ?? 900;
  return {
    mode: 'api-key',
    health: () => ({ auth: 'api-key' }),
    async exchangeApiKey(key) {
      if (!timingSafeEqual(digest(key), digest(o.apiKey))) throw new SkiffError('BRK_UNAUTHORIZED', 'API key not accepted (send it as Authorization: Bearer <key>)');
      return { token: await o.tokens.mint('user', { sub: LOCAL_PRINCIPAL.id, auth: 'api-key' }, ttl), expiresInS: ttl };
    },
    exchangeAwsIdentity: notHere('signing in with an AWS identity'),
    async principal(token) {
      const v = await o.tokens.verify('user', token);
      // A token an aws-iam broker of this home minted (before a restart in this mode) is not the key holder's.
      if (v.claims['auth'] === 'aws-iam') throw new SkiffError('BRK_TOKEN_INVALID', 'this user token was issued for an AWS identity; this broker takes its API key');
      return { ...LOCAL_PRINCIPAL };
    },
    listGrants: notHere('`skiff access`'),
    grant: notHere('`skiff access grant`'),
    revoke: notHere('`skiff access revoke`'),
  };
}
