// Data access: what lets a cluster read the user's data while the control plane never sees how.
//
//   skiff CLI ──(user certificate, ALPN skiff-data/1, port 443)──► scheduler's gateway ──► scheduler's agent
//      AWS credentials + secret env values                                                  │ telemetry wss
//                                                                                           ▼ (node certificates)
//                                                                                     workers' agents
//
// The broker only ever holds the names: plain --env pairs (shown by status), --secret-env names, whether AWS
// credentials are forwarded, and what the scheduler's agent reports (whose identity, until when). This file is
// the contract both ends share: the names' rule, the payload's shape and its checks.
import { SkiffError, echo } from './errors.js';

/** The ALPN protocol the CLI offers to reach the gateway's data-access route (not Dask, not the dashboard). */
export const DATA_ACCESS_ALPN = 'skiff-data/1';
export const DATA_ACCESS_PATH = '/v1/data-access';
/** A payload is a few KiB: session credentials (a token of up to ~2 KiB) and a handful of variables. */
export const MAX_DATA_PAYLOAD_BYTES = 64 * 1024;

/** An environment variable's name as POSIX shells take it. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const ENV_NAME_RULE = 'letters, digits and _, not starting with a digit (at most 128)';
/** Names skiff sets itself on the Dask processes (TLS, the container-credentials interface). */
const RESERVED = [/^SKIFF_/, /^DASK_DISTRIBUTED__COMM__/, /^AWS_CONTAINER_/, /^PYTHONUNBUFFERED$/];
export const MAX_ENV = 100;
export const MAX_ENV_VALUE_BYTES = 8 * 1024;

/** What a cluster record keeps about data access (names and facts, never a secret). */
export interface DataAccessSettings {
  /** The user's AWS credentials are forwarded from the client (default on aws). */
  forwardAws: boolean;
  /** Names of --secret-env variables (their values go to the machines only). */
  secretEnv: string[];
}

/** What the scheduler's agent last received, as reported to the broker: no keys, no values. */
export interface DataAccessState {
  /** The identity the forwarded AWS credentials act as (sts:GetCallerIdentity's ARN). */
  identity?: string;
  /** When those credentials expire (ISO). */
  expiresAt?: string;
  /** When the scheduler's agent last received credentials from the client (ISO). */
  receivedAt: string;
  /** Secret variables it received, by name. */
  secretEnv: string[];
}

/** AWS credentials as the client forwards them and the container-credentials endpoint serves them. */
export interface ForwardedAwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** ISO time; absent when the source gave none. */
  expiration?: string;
  identity?: string;
}

/** Client → scheduler (→ workers): credentials and secret values, held in memory on the machines only. */
export interface DataPayload {
  aws?: ForwardedAwsCredentials;
  secretEnv: Record<string, string>;
}

/** Whether a cluster forwards the client's AWS credentials when its request does not say: on aws, yes. */
export function forwardsAwsByDefault(backend: string): boolean {
  return backend === 'aws';
}

/** Checks one variable name; `what` names the flag in the message. */
export function checkEnvName(name: string, what: string): void {
  if (!ENV_NAME.test(name)) throw new SkiffError('BRK_BAD_REQUEST', `${what} name ${echo(name)} is not valid: use ${ENV_NAME_RULE}`);
  if (RESERVED.some((r) => r.test(name))) throw new SkiffError('BRK_BAD_REQUEST', `${what} name ${echo(name)} is reserved: skiff sets it on the Dask processes itself`);
}

/** A request's `env` (plain pairs, kept in the record) checked whole. */
export function parseEnv(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SkiffError('BRK_BAD_REQUEST', 'env must be an object of NAME: value');
  const entries = Object.entries(raw);
  if (entries.length > MAX_ENV) throw new SkiffError('BRK_BAD_REQUEST', `at most ${MAX_ENV} --env variables; got ${entries.length}`);
  for (const [k, v] of entries) {
    checkEnvName(k, '--env');
    if (typeof v !== 'string' || Buffer.byteLength(v) > MAX_ENV_VALUE_BYTES || v.includes('\0')) {
      throw new SkiffError('BRK_BAD_REQUEST', `--env ${k} must be a string of at most ${MAX_ENV_VALUE_BYTES} bytes without NUL`);
    }
  }
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/** A request's `secretEnv` (names only) checked whole; a name also given with --env is refused. */
export function parseSecretEnvNames(raw: unknown, env: Record<string, string> | undefined): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new SkiffError('BRK_BAD_REQUEST', 'secretEnv must be a list of names');
  if (raw.length > MAX_ENV) throw new SkiffError('BRK_BAD_REQUEST', `at most ${MAX_ENV} --secret-env variables; got ${raw.length}`);
  const names: string[] = [];
  for (const n of raw) {
    if (typeof n !== 'string') throw new SkiffError('BRK_BAD_REQUEST', `--secret-env takes names; got ${echo(n)}`);
    checkEnvName(n, '--secret-env');
    if (env && n in env) throw new SkiffError('BRK_BAD_REQUEST', `${n} is given both with --env and --secret-env; choose one`);
    if (!names.includes(n)) names.push(n);
  }
  return names;
}

/** A payload as it arrives at the gateway or over telemetry: every field checked, nothing else kept. */
export function parseDataPayload(raw: unknown, expectedSecretEnv: readonly string[]): DataPayload {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SkiffError('BRK_BAD_REQUEST', 'a data-access payload is an object');
  const out: DataPayload = { secretEnv: {} };
  const aws = r['aws'];
  if (aws !== undefined) {
    const a = aws as Record<string, unknown>;
    const str = (k: string, max: number, required: boolean): string | undefined => {
      const v = a[k];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string' || v.length === 0 || v.length > max || !/^[\x21-\x7e]+$/.test(v)) throw new SkiffError('BRK_BAD_REQUEST', `aws.${k} is missing or malformed`);
      return v;
    };
    const expiration = str('expiration', 40, false);
    if (expiration !== undefined && Number.isNaN(Date.parse(expiration))) throw new SkiffError('BRK_BAD_REQUEST', 'aws.expiration is not a time');
    const sessionToken = str('sessionToken', 8192, false);
    const identity = str('identity', 2048, false);
    out.aws = {
      accessKeyId: str('accessKeyId', 128, true) as string, secretAccessKey: str('secretAccessKey', 256, true) as string,
      ...(sessionToken !== undefined ? { sessionToken } : {}), ...(expiration !== undefined ? { expiration: new Date(expiration).toISOString() } : {}),
      ...(identity !== undefined ? { identity } : {}),
    };
  }
  const env = r['secretEnv'] ?? {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw new SkiffError('BRK_BAD_REQUEST', 'secretEnv must be an object');
  for (const [k, v] of Object.entries(env)) {
    if (!expectedSecretEnv.includes(k)) throw new SkiffError('BRK_BAD_REQUEST', `secret variable ${echo(k)} was not named with --secret-env when the cluster was created`);
    if (typeof v !== 'string' || Buffer.byteLength(v) > MAX_ENV_VALUE_BYTES || v.includes('\0')) throw new SkiffError('BRK_BAD_REQUEST', `secret variable ${k} is malformed`);
    out.secretEnv[k] = v;
  }
  return out;
}

/** The broker's view of a payload: whose, until when, which names. */
export function describePayload(p: DataPayload, at: Date): DataAccessState {
  return {
    receivedAt: at.toISOString(), secretEnv: Object.keys(p.secretEnv).sort(),
    ...(p.aws?.identity !== undefined ? { identity: p.aws.identity } : {}), ...(p.aws?.expiration !== undefined ? { expiresAt: p.aws.expiration } : {}),
  };
}

/** One line for `status` and `up`. */
export function dataAccessLine(s: DataAccessSettings | undefined, state: DataAccessState | undefined): string | undefined {
  if (!s) return undefined;
  const parts: string[] = [];
  if (s.forwardAws) {
    parts.push(state?.identity !== undefined || state?.expiresAt !== undefined
      ? `AWS credentials forwarded from the client: ${state.identity ?? 'identity unknown'}${state.expiresAt ? `, until ${state.expiresAt}` : ', no expiry given'} (received ${state.receivedAt})`
      : 'AWS credentials forwarded from the client: none received yet');
  } else parts.push('AWS credentials not forwarded (Dask has only what its machine has: on aws, the instance role)');
  if (s.secretEnv.length > 0) parts.push(`secret env ${s.secretEnv.join(', ')}${state ? '' : ' (not received yet)'}`);
  return parts.join('; ');
}
