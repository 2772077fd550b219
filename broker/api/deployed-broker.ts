// Where a workspace's deployed broker is published, and in what shape (issue 19). `skiff setup aws` writes
// these; the broker reads them at boot; the CLI reads the parameter with the user's own credentials to find the
// broker and pin its CA (no trust on first use). Only the account can write an SSM parameter of its own.
import { X509Certificate } from 'node:crypto';
import { SkiffError, type ErrorCode } from './errors.js';

/** SSM parameter (String, JSON), per workspace W: what the CLI and the broker read. */
export const brokerParameterName = (workspace: string): string => `/skiff/${workspace}/broker`;
/** Secrets Manager secret (SecretString JSON `{ certPem, keyPem }`, KMS-encrypted): the broker CA, for the broker's role only. */
export const brokerCaSecretName = (workspace: string): string => `skiff/${workspace}/broker-ca`;
/** The workspace's KMS key: seals the broker CA secret, cluster CA keys and the token signing key. */
export const workspaceKmsAlias = (workspace: string): string => `alias/skiff-${workspace}`;

export interface DeployedBrokerParameter {
  /** https://<elastic-ip> (a port only when not 443, as in tests). */
  url: string;
  /** The broker CA certificate (PEM): the CLI trusts it and nothing else for this broker. */
  caPem: string;
  /** Names this broker in signed identity requests (aws-iam login). */
  brokerId: string;
  region: string;
  /** The workspace's DynamoDB table. */
  table: string;
  kmsKeyId: string;
  /** The broker version setup deployed. */
  version: string;
}

export interface BrokerCaSecret {
  certPem: string;
  keyPem: string;
}

const FIELDS = ['url', 'caPem', 'brokerId', 'region', 'table', 'kmsKeyId', 'version'] as const;

/**
 * Checks a parameter's JSON once, where it is read: every field a non-empty string, the URL https with no path
 * or credentials, the CA one parseable CA certificate. `source` names it in errors (the parameter and region).
 */
export function parseDeployedBrokerParameter(text: string, source: string, code: ErrorCode): DeployedBrokerParameter {
  const bad = (what: string) => new SkiffError(code, `${source} is not a skiff broker record: ${what}; re-run \`skiff setup aws\` to publish it again`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not a JSON object');
  const r = raw as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const k of FIELDS) {
    const v = r[k];
    if (typeof v !== 'string' || v.length === 0) throw bad(`"${k}" is missing or not a string`);
    out[k] = v;
  }
  const p = out as unknown as DeployedBrokerParameter;
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    throw bad(`url ${JSON.stringify(p.url.slice(0, 100))} is not a URL`);
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    throw bad(`url ${JSON.stringify(p.url.slice(0, 100))} must be https://HOST[:PORT] and nothing more`);
  }
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(p.caPem);
  } catch {
    throw bad('caPem is not a PEM certificate');
  }
  if (!ca.ca) throw bad('caPem is not a CA certificate');
  return { ...p, url: url.origin };
}

export function parseBrokerCaSecret(text: string, source: string, code: ErrorCode): BrokerCaSecret {
  const bad = (what: string) => new SkiffError(code, `${source} is not a broker CA: ${what}; re-run \`skiff setup aws\``);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof r['certPem'] !== 'string' || typeof r['keyPem'] !== 'string') throw bad('it needs "certPem" and "keyPem" strings');
  return { certPem: r['certPem'], keyPem: r['keyPem'] };
}
