// Who is asking: the vocabulary the broker and the CLI share for identities (a broker with `--auth aws-iam`
// knows each person as their IAM identity; the local broker's API key is one person's, `local`), access grants
// and the signed sts:GetCallerIdentity exchange (the way HashiCorp Vault's AWS IAM auth method works).

export type AuthMode = 'api-key' | 'aws-iam';

/**
 * A caller as the broker knows it. `id` is what clusters record as their owner: an IAM user's ARN, or for an
 * assumed-role session its role's ARN (`arn:aws:iam::ACCT:role/ROLE`, without the role's path, which the
 * session ARN does not carry); `local` for the API-key broker. `person` is the user name or the session name.
 */
export interface Principal {
  id: string;
  person: string;
  account?: string;
  admin: boolean;
}

/** The one principal of an API-key broker: its key is one person's, who is its admin. */
export const LOCAL_PRINCIPAL: Readonly<Principal> = Object.freeze({ id: 'local', person: 'local', admin: true });

/** GET /v1/health. `stsRegion`: the region whose STS endpoint an aws-iam broker forwards identity requests to. */
export interface HealthResponse {
  ok: boolean;
  version: string;
  pid: number;
  auth: AuthMode;
  brokerId?: string;
  stsRegion?: string;
  /** Whether this broker leads (broker/leader/leadership.ts): the one that runs the watchdog and scaling. */
  leader?: boolean;
}

/** The header naming the broker a signed identity request is meant for; it must be among the signed headers. */
export const BROKER_ID_HEADER = 'x-skiff-broker-id';
export const BROKER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const BROKER_ID_RULE = 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters';

/** The only request the broker forwards to STS: its body, exactly as the CLI signs it. */
export const GET_CALLER_IDENTITY_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

/** POST /v1/auth/aws: the signed request as the CLI signed it, for the broker to forward unchanged to its STS. */
export interface AwsAuthRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface AwsAuthResponse {
  token: string;
  /** ISO time. */
  expiresAt: string;
  expiresInS: number;
  principal: Principal;
}

/** Who may use an aws-iam broker: an exact ARN, or a prefix ending in `*`. */
export interface AccessGrantView {
  pattern: string;
  admin: boolean;
  grantedBy: string;
  grantedAt: string;
}

const PARTITION = 'aws|aws-cn|aws-us-gov';
const GRANT = new RegExp(`^arn:(${PARTITION}):iam::(\\d{12}):((user|role)/[\\w+=,.@/-]*\\*?|\\*)$`);
const SESSION = new RegExp(`^arn:(${PARTITION}):sts::(\\d{12}):assumed-role/([\\w+=,.@-]+)/`);

/**
 * Checks a grant pattern and names its account; a message says what is wrong and what to give instead.
 * Patterns are IAM users' and roles' ARNs (`…:user/NAME`, `…:role/NAME`), a prefix of one ending in `*`
 * (`…:role/data-*`), or a whole account (`arn:aws:iam::ACCT:*`).
 */
export function parseGrantPattern(pattern: string): { account: string } | { error: string } {
  const session = SESSION.exec(pattern);
  if (session) {
    return { error: `${pattern} is a role session; grant its role instead, arn:${session[1] ?? 'aws'}:iam::${session[2] ?? ''}:role/${session[3] ?? ''} (an assumed-role session counts as its role)` };
  }
  const m = GRANT.exec(pattern);
  if (!m) {
    return { error: `grant pattern ${JSON.stringify(pattern.slice(0, 200))} is not an IAM user or role ARN: use arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:role/NAME, a prefix of one ending in * (arn:aws:iam::ACCOUNT:role/data-*), or arn:aws:iam::ACCOUNT:*` };
  }
  return { account: m[2] ?? '' };
}

/** Whether a grant pattern covers a principal id: equal, or a trailing `*` and the id starts with what precedes it. */
export function grantCovers(pattern: string, principalId: string): boolean {
  return pattern.endsWith('*') ? principalId.startsWith(pattern.slice(0, -1)) : pattern === principalId;
}
