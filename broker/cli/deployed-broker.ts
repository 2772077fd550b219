// How the CLI finds a workspace's deployed broker and talks to it: the SSM parameter /skiff/W/broker, read with
// the user's own AWS credentials, gives the URL and the broker CA; every call then goes over HTTPS pinned to that
// CA alone. `skiff setup aws` remembers the workspace in $SKIFF_HOME/cli.json so later commands find it too.
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SkiffError } from '../api/errors.js';
import { HEALTH_PATH } from '../api/routes.js';
import { WORKSPACE_NAME } from '../api/limits.js';
import { brokerParameterName, parseDeployedBrokerParameter, type DeployedBrokerParameter } from '../api/deployed-broker.js';
import { isSupportedRegion } from '../../provisioner/backend.js';
import { skiffPaths } from '../home.js';

export interface DeployedBrokerRef {
  workspace: string;
  region: string;
}

interface CliFile {
  broker?: { kind: 'aws'; workspace: string; region: string };
  [other: string]: unknown;
}

function readCliFile(path: string): CliFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new SkiffError('CLI_USAGE', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as CliFile;
  } catch (err) {
    throw new SkiffError('CLI_USAGE', `${path} is not a JSON object (${(err as Error).message}); fix it, or delete it and run \`skiff setup aws\` again`);
  }
}

function writeCliFile(path: string, f: CliFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.${process.pid}.tmp`, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.${process.pid}.tmp`, path);
}

function checkRef(ref: DeployedBrokerRef, where: string): DeployedBrokerRef {
  if (!WORKSPACE_NAME.test(ref.workspace)) throw new SkiffError('CLI_USAGE', `${where}: workspace ${JSON.stringify(ref.workspace)} is not a workspace name`);
  if (!isSupportedRegion(ref.region)) throw new SkiffError('CLI_USAGE', `${where}: region ${JSON.stringify(ref.region)} is not a supported region`);
  return { workspace: ref.workspace, region: ref.region };
}

/** `skiff setup aws` calls this once the broker answers: later commands of this home use that broker. */
export function rememberDeployedBroker(home: string, ref: DeployedBrokerRef): void {
  const path = skiffPaths(home).cliFile;
  const checked = checkRef(ref, 'rememberDeployedBroker');
  writeCliFile(path, { ...readCliFile(path), broker: { kind: 'aws', ...checked } });
}

/** `skiff teardown aws`: this home goes back to the local broker. */
export function forgetDeployedBroker(home: string): void {
  const path = skiffPaths(home).cliFile;
  const { broker: _gone, ...rest } = readCliFile(path);
  if (Object.keys(rest).length === 0) rmSync(path, { force: true });
  else writeCliFile(path, rest);
}

/** The deployed broker this home was set up with, if any. */
export function rememberedBroker(home: string): DeployedBrokerRef | undefined {
  const path = skiffPaths(home).cliFile;
  const b = readCliFile(path).broker;
  if (b === undefined) return undefined;
  if (typeof b !== 'object' || b === null || b.kind !== 'aws' || typeof b.workspace !== 'string' || typeof b.region !== 'string') {
    throw new SkiffError('CLI_USAGE', `${path}: "broker" must be { "kind": "aws", "workspace", "region" }; run \`skiff setup aws\` to write it again`);
  }
  return checkRef(b, path);
}

export interface LookupOptions {
  ssm?: Pick<SSMClient, 'send'>;
  /** Per call (default 10 s). */
  timeoutMs?: number;
}

/** The published record of the workspace's broker, read with the caller's credentials; undefined when none is published. */
export async function lookupDeployedBroker(ref: DeployedBrokerRef, o: LookupOptions = {}): Promise<DeployedBrokerParameter | undefined> {
  const name = brokerParameterName(ref.workspace);
  const ssm = o.ssm ?? new SSMClient({ region: ref.region, maxAttempts: 2 });
  let value: string | undefined;
  try {
    value = (await ssm.send(new GetParameterCommand({ Name: name }), { abortSignal: AbortSignal.timeout(o.timeoutMs ?? 10_000) })).Parameter?.Value;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ParameterNotFound') return undefined;
    throw new SkiffError('CLI_BROKER_UNREACHABLE',
      `cannot read SSM parameter ${name} in ${ref.region} to find the workspace's broker: ${e.name ?? 'Error'}: ${e.message ?? String(err)}` +
      (e.name === 'AccessDeniedException' ? '; your identity needs ssm:GetParameter on it (`skiff policy aws`)' : ''), { cause: err, retryable: true });
  }
  const p = parseDeployedBrokerParameter(value ?? '', `SSM parameter ${name} (${ref.region})`, 'CLI_BROKER_UNREACHABLE');
  return p;
}

export interface WaitOptions {
  /** Tries after the first (default 5). */
  retries?: number;
  /** Before retry n: n × this, at most 4× (default 1 s). */
  delayMs?: number;
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
  progress?: (msg: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface Health {
  ok: boolean;
  version?: string;
  auth?: string;
  brokerId?: string;
}

/**
 * GET /v1/health until the broker answers, with progress between attempts; one error at the end. A broker that
 * is not the pinned one (CLI_BROKER_UNTRUSTED) is not retried: nothing more is tried with it.
 */
export async function waitForBroker(url: string, f: typeof fetch, what: string, o: WaitOptions = {}): Promise<Health> {
  const attempts = (o.retries ?? 5) + 1;
  const delayMs = o.delayMs ?? 1000;
  const wait = o.sleep ?? ((ms: number) => sleep(ms));
  const started = Date.now();
  let last = '';
  for (let n = 1; n <= attempts; n++) {
    try {
      const res = await f(new URL(HEALTH_PATH, url), { signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
      const text = await res.text();
      if (res.ok) return JSON.parse(text) as Health;
      last = `HTTP ${res.status}`;
    } catch (err) {
      if (err instanceof SkiffError && err.code === 'CLI_BROKER_UNTRUSTED') throw err;
      const e = err as NodeJS.ErrnoException;
      last = e.code ?? e.message;
    }
    if (n < attempts) {
      o.progress?.(`broker at ${url} not answering (${last}), retrying (${n}/${attempts - 1})…`);
      await wait(delayMs * Math.min(n, 4));
    }
  }
  throw new SkiffError('CLI_BROKER_UNREACHABLE',
    `${what} at ${url} did not answer in ${attempts} attempts over ${Math.round((Date.now() - started) / 1000)} s (last: ${last}); ` +
    '`skiff setup aws --status` shows its instance, and `skiff setup aws` launches a new one if it is gone', { retryable: true });
}
