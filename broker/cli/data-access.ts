// The CLI's half of data access: reads --env / --secret-env / --[no-]forward-aws-credentials, resolves the user's
// AWS credentials from their own default chain, and delivers them (with the secret values) straight to the
// cluster's gateway over mutual TLS with the user certificate. The broker gets names only.
import { request, type RequestOptions } from 'node:https';
import { readFileSync } from 'node:fs';
import { SkiffError } from '../api/errors.js';
import {
  DATA_ACCESS_ALPN, DATA_ACCESS_PATH, forwardsAwsByDefault, parseEnv, parseSecretEnvNames, type DataPayload, type ForwardedAwsCredentials,
} from '../api/data-access.js';
import type { CredentialFiles } from './credentials.js';

/** Long-lived keys are exchanged for a session of this length (sts:GetSessionToken); the client re-sends at half life. */
export const SESSION_SECONDS = 3600;

export interface DataAccessFlags {
  env?: Record<string, string>;
  secretEnv: string[];
  /** The values, from this process's environment: they go to the machines only. */
  secretValues: Record<string, string>;
  forwardAws: boolean;
}

const usage = (m: string) => new SkiffError('CLI_USAGE', m);

/** Checks the flags whole (names, values present), before anything is created: the broker's own rules, as usage errors. */
export function dataAccessFlags(flags: Record<string, unknown>, backend: string, lookupEnv: (name: string) => string | undefined): DataAccessFlags {
  const pairs: Record<string, string> = {};
  for (const p of (flags['env'] as string[] | undefined) ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw usage(`--env takes NAME=VALUE; got "${p}"`);
    pairs[p.slice(0, eq)] = p.slice(eq + 1);
  }
  const env = asUsage(() => parseEnv(pairs));
  const secretEnv = asUsage(() => parseSecretEnvNames((flags['secret-env'] as string[] | undefined) ?? [], env));
  const secretValues: Record<string, string> = {};
  for (const n of secretEnv) {
    const v = lookupEnv(n);
    if (v === undefined) throw usage(`--secret-env ${n}: ${n} is not set in this shell's environment; export it first (its value is sent to the machines only)`);
    secretValues[n] = v;
  }
  const on = flags['forward-aws-credentials'] === true;
  const off = flags['no-forward-aws-credentials'] === true;
  if (on && off) throw usage('give --forward-aws-credentials or --no-forward-aws-credentials, not both');
  return { ...(env ? { env } : {}), secretEnv, secretValues, forwardAws: on || (!off && forwardsAwsByDefault(backend)) };
}

function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw usage((err as Error).message);
  }
}

/**
 * Short-lived credentials from the user's default chain (environment, profiles, SSO, credential_process, ...):
 * a session (it has a token) is forwarded as it is, with its expiry; long-lived keys are exchanged for a
 * one-hour session first, so a cluster never holds the user's permanent keys. The identity is the ARN
 * sts:GetCallerIdentity names.
 */
export async function resolveAwsCredentials(environ: NodeJS.ProcessEnv = process.env): Promise<ForwardedAwsCredentials> {
  // Loaded here: only `up` with forwarding (and `credentials --forward`) needs the SDK's credential chain.
  const [{ defaultProvider }, sts] = await Promise.all([import('@aws-sdk/credential-provider-node'), import('@aws-sdk/client-sts')]);
  const region = environ['AWS_REGION'] ?? environ['AWS_DEFAULT_REGION'] ?? 'us-east-1';
  let creds;
  try {
    creds = await defaultProvider({})();
  } catch (err) {
    throw new SkiffError('CLI_NO_AWS_CREDENTIALS', `no AWS credentials to forward to the cluster (${(err as Error).message.split('\n')[0]}); configure them (aws configure, AWS_PROFILE, SSO) or pass --no-forward-aws-credentials`);
  }
  let out: ForwardedAwsCredentials = {
    accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey,
    ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}), ...(creds.expiration ? { expiration: creds.expiration.toISOString() } : {}),
  };
  try {
    if (!creds.sessionToken) {
      const client = new sts.STSClient({ region, credentials: creds });
      const s = (await client.send(new sts.GetSessionTokenCommand({ DurationSeconds: SESSION_SECONDS }))).Credentials;
      client.destroy();
      if (!s?.AccessKeyId || !s.SecretAccessKey || !s.SessionToken) throw new Error('GetSessionToken returned no credentials');
      out = { accessKeyId: s.AccessKeyId, secretAccessKey: s.SecretAccessKey, sessionToken: s.SessionToken, ...(s.Expiration ? { expiration: s.Expiration.toISOString() } : {}) };
    }
    const client = new sts.STSClient({
      region, credentials: { accessKeyId: out.accessKeyId, secretAccessKey: out.secretAccessKey, ...(out.sessionToken ? { sessionToken: out.sessionToken } : {}) },
    });
    const who = await client.send(new sts.GetCallerIdentityCommand({}));
    client.destroy();
    return { ...out, ...(who.Arn ? { identity: who.Arn } : {}) };
  } catch (err) {
    throw new SkiffError('CLI_NO_AWS_CREDENTIALS', `could not get short-lived AWS credentials to forward (${(err as Error).name}: ${(err as Error).message.split('\n')[0]}); check them, or pass --no-forward-aws-credentials`);
  }
}

/** POSTs the payload to the scheduler's gateway (tls://host:port) with the user certificate. */
export function deliverDataAccess(scheduler: string, files: CredentialFiles, payload: DataPayload, timeoutMs = 10_000): Promise<void> {
  const m = /^tls:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(scheduler);
  if (!m) return Promise.reject(new SkiffError('CLI_DATA_ACCESS', `cannot deliver data access to ${scheduler}: not a tls://HOST:PORT address`));
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  const body = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    // ALPN picks the gateway's data-access route; https passes it on to tls.connect.
    const options: RequestOptions & { ALPNProtocols: string[] } = {
      host, port: Number(m[2]), method: 'POST', path: DATA_ACCESS_PATH, ALPNProtocols: [DATA_ACCESS_ALPN],
      ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), rejectUnauthorized: true,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs, agent: false,
    };
    const req = request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text = (text + c).slice(0, 2000)));
      res.on('end', () => {
        if (res.statusCode === 204) return resolve();
        let msg = text;
        try {
          msg = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
        } catch {
          // not JSON: keep the text
        }
        reject(new SkiffError('CLI_DATA_ACCESS', `the scheduler refused the data access (HTTP ${res.statusCode ?? '?'}): ${msg}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new SkiffError('CLI_DATA_ACCESS', `cannot reach the scheduler at ${scheduler} to deliver data access: ${err.message}`, { retryable: true })));
    req.end(body);
  });
}

/** When to send fresh credentials: at half their remaining life (SKIFF_CREDENTIALS_REFRESH_MS overrides, for tests). */
export function refreshDelayMs(aws: ForwardedAwsCredentials | undefined, now: number, overrideMs?: number): number {
  if (overrideMs !== undefined) return overrideMs;
  const left = aws?.expiration ? Date.parse(aws.expiration) - now : SESSION_SECONDS * 1000;
  return Math.max(30_000, Math.floor(left / 2));
}
