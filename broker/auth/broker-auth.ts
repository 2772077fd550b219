// The broker's authenticator as `skiff broker` configures it: the API key (default, the local broker: one
// person's), or AWS IAM identities (`--auth aws-iam --broker-id ID [--admin ARN] [--account ID]`). For the
// latter it decides, once at start, which account it serves and stores the first admin's grant.
import type { Logger } from 'pino';
import { SkiffError } from '../api/errors.js';
import { BROKER_ID, BROKER_ID_RULE, parseGrantPattern } from '../api/auth.js';
import type { TokenIssuer } from '../tokens/types.js';
import type { Authenticator } from './authenticator.js';
import { createApiKeyAuth } from './authenticator.js';
import { createAwsIamAuth, stsEndpointFor } from './aws-iam.js';
import { createGrants, type GrantStore } from './grants.js';

export interface AwsIamSettings {
  mode: 'aws-iam';
  brokerId: string;
  /** The principal who set the broker up: its first admin, stored as a grant if the broker has none yet. */
  adminArn?: string;
  /** The AWS account served; default the admin's (or the stored grants') account. */
  account?: string;
  /** Region of the STS endpoint identity requests go to (default us-east-1). */
  stsRegion?: string;
  /** AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL: an emulator's STS (tests). */
  stsEndpointUrl?: string;
  endpointUrl?: string;
}

export type AuthSettings = { mode: 'api-key'; apiKey: string } | AwsIamSettings;

export async function createBrokerAuth(s: AuthSettings, deps: { store: GrantStore; tokens: TokenIssuer; log: Logger; now?: () => Date }): Promise<Authenticator> {
  if (s.mode === 'api-key') return createApiKeyAuth({ apiKey: s.apiKey, tokens: deps.tokens });
  const config = (m: string) => new SkiffError('BRK_CONFIG', m);
  if (!BROKER_ID.test(s.brokerId)) throw config(`--broker-id ${JSON.stringify(s.brokerId)} is not valid: use ${BROKER_ID_RULE}`);
  let adminAccount: string | undefined;
  if (s.adminArn !== undefined) {
    const p = parseGrantPattern(s.adminArn);
    if ('error' in p || s.adminArn.endsWith('*')) throw config(`--admin: ${'error' in p ? p.error : 'name one principal (an ARN without *)'}`);
    adminAccount = p.account;
  }
  if (s.account !== undefined && !/^\d{12}$/.test(s.account)) throw config(`--account ${JSON.stringify(s.account)} is not a 12-digit AWS account id`);
  if (s.account !== undefined && adminAccount !== undefined && s.account !== adminAccount) {
    throw config(`--admin ${s.adminArn ?? ''} is of account ${adminAccount}, not of --account ${s.account}`);
  }
  const stored = await deps.store.accessGrants();
  const storedAccount = stored.map((g) => parseGrantPattern(g.pattern)).find((p): p is { account: string } => 'account' in p)?.account;
  const account = s.account ?? adminAccount ?? storedAccount;
  if (account === undefined) {
    throw config('a broker with --auth aws-iam needs its first admin: --admin ARN (your IAM user\'s or role\'s ARN; `aws sts get-caller-identity` names it)');
  }
  const now = deps.now ?? (() => new Date());
  if (s.adminArn !== undefined) {
    const stored = await createGrants({ store: deps.store, account }).bootstrap(s.adminArn, now().toISOString());
    deps.log.info({ admin: s.adminArn, stored }, stored ? 'first admin granted' : 'grants exist already: --admin not stored again');
  }
  const stsRegion = s.stsRegion ?? 'us-east-1';
  const stsUrl = stsEndpointFor(stsRegion, { ...(s.stsEndpointUrl ? { stsEndpointUrl: s.stsEndpointUrl } : {}), ...(s.endpointUrl ? { endpointUrl: s.endpointUrl } : {}) });
  deps.log.info({ brokerId: s.brokerId, account, sts: stsUrl.origin }, 'authentication: AWS IAM identities');
  return createAwsIamAuth({ brokerId: s.brokerId, account, stsRegion, stsUrl, store: deps.store, tokens: deps.tokens, log: deps.log, now });
}
