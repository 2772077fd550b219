// How the CLI reaches its broker, first match wins:
//   1. --broker-url / SKIFF_BROKER_URL: that broker (a server of the user's, with SKIFF_API_KEY);
//   2. `up --backend aws`: the workspace's deployed broker, found in SSM with the user's credentials;
//   3. $SKIFF_HOME/cli.json names a deployed broker (`skiff setup aws` writes it): that one;
//   4. the local broker of $SKIFF_HOME, started in the background on first use and reused, so `skiff up` just works.
// A deployed broker is reached over HTTPS pinned to its published CA alone (deployed-broker.ts, pinned-fetch.ts).

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SkiffError, isSkiffError } from '../api/errors.js';
import { callBroker } from '../api/client.js';
import { HEALTH_PATH, TOKEN_PATH } from '../api/routes.js';
import { skiffPaths, type BrokerInfo } from '../home.js';
import { brokerParameterName, type DeployedBrokerParameter } from '../api/deployed-broker.js';
import { lookupDeployedBroker, rememberedBroker, waitForBroker, type DeployedBrokerRef, type LookupOptions, type WaitOptions } from './deployed-broker.js';
import { createPinnedFetch } from './pinned-fetch.js';
import type { HealthResponse } from '../api/auth.js';
import { createAwsTokenSource, type AwsKeys } from './aws-login.js';
import { isSupportedRegion } from '../../provisioner/backend.js';

export { rememberDeployedBroker, forgetDeployedBroker, type DeployedBrokerRef } from './deployed-broker.js';

export interface BrokerApi {
  url: string;
  /** The deployed broker's published record, when it is one (its CA is pinned by `fetch`). */
  deployed?: DeployedBrokerParameter;
  /** The transport every call uses (pinned to the broker CA for a deployed broker). */
  fetch: typeof fetch;
  call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

export interface ConnectOptions {
  home: string;
  brokerUrl?: string;
  apiKey?: string;
  /** Start a background broker when none answers (local use). */
  autoStart: boolean;
  /** Variables a broker started here must not inherit: secret values meant for the machines only. */
  withoutEnv?: readonly string[];
  progress?: (msg: string) => void;
  /** `up --backend aws`: this workspace's deployed broker when one is published (else the next in order). */
  deployed?: DeployedBrokerRef;
  /** `up` on this machine: the local broker, whatever cli.json says. */
  localOnly?: boolean;
  /** Reaching a deployed broker (tests: a shorter wait, an SSM client). */
  lookup?: LookupOptions;
  wait?: WaitOptions;
  /** For a broker that signs people in with their AWS identity (aws-login.ts). */
  aws?: { credentialSource: string; stsEndpointUrl?: string; endpointUrl?: string; keys?: () => Promise<AwsKeys> };
}

async function health(url: string, f: typeof fetch = fetch): Promise<HealthResponse | undefined> {
  try {
    const res = await f(new URL(HEALTH_PATH, url), { signal: AbortSignal.timeout(1500) });
    if (!res.ok) return undefined;
    const body = (await res.json().catch(() => ({}))) as Partial<HealthResponse>;
    // A broker older than authentication modes says none: its API key.
    return { ok: true, version: String(body.version ?? ''), pid: Number(body.pid ?? 0), auth: body.auth ?? 'api-key', ...(body.brokerId ? { brokerId: body.brokerId } : {}), ...(body.stsRegion ? { stsRegion: body.stsRegion } : {}) };
  } catch {
    return undefined;
  }
}

async function healthy(url: string): Promise<boolean> {
  return (await health(url)) !== undefined;
}

function readInfo(path: string): BrokerInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as BrokerInfo;
  } catch {
    return undefined;
  }
}

/** The URL of the local broker of this home, if one answers. */
export async function localBrokerUrl(home: string): Promise<string | undefined> {
  const info = readInfo(skiffPaths(home).brokerInfo);
  return info && (await healthy(info.url)) ? info.url : undefined;
}

async function startLocalBroker(home: string, withoutEnv: readonly string[], progress?: (msg: string) => void): Promise<string> {
  const p = skiffPaths(home);
  mkdirSync(p.brokerDir, { recursive: true, mode: 0o700 });
  const before = readInfo(p.brokerInfo)?.startedAt;
  const script = fileURLToPath(new URL('./main.js', import.meta.url));
  const out = openSync(p.brokerLog, 'a', 0o600);
  const env: NodeJS.ProcessEnv = { ...process.env, SKIFF_HOME: p.home };
  for (const k of withoutEnv) delete env[k];
  const child = spawn(process.execPath, [script, 'broker', '--background'], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  closeSync(out);
  child.unref();
  progress?.(`started a local broker (pid ${child.pid}); its log is ${p.brokerLog}`);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const info = readInfo(p.brokerInfo);
    if (info && info.startedAt !== before && (await healthy(info.url))) return info.url;
    if (child.exitCode !== null) {
      // Another CLI may have started one at the same moment: its broker holds the lock and ours exits.
      if (info && (await healthy(info.url))) return info.url;
      throw new SkiffError('CLI_BROKER_UNREACHABLE', `the local broker exited at start (code ${child.exitCode}); last lines of ${p.brokerLog}:\n${logTail(p.brokerLog)}`);
    }
    await sleep(50);
  }
  throw new SkiffError('CLI_BROKER_UNREACHABLE', `the local broker did not start within 15 s; last lines of ${p.brokerLog}:\n${logTail(p.brokerLog)}`);
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Steps 2 and 3 of the order above: the deployed broker to use, if any. */
async function deployedTarget(o: ConnectOptions): Promise<{ ref: DeployedBrokerRef; record: DeployedBrokerParameter } | undefined> {
  if (o.deployed && isSupportedRegion(o.deployed.region)) {
    // Not found, or not readable (no credentials yet, an identity without ssm:GetParameter): the next in order,
    // whose refusal (if any) says what to fix.
    const record = await lookupDeployedBroker(o.deployed, o.lookup).catch((err: unknown) => {
      if (!(err instanceof SkiffError) || err.code !== 'CLI_BROKER_UNREACHABLE') throw err;
      o.progress?.(`${err.message}; trying the next broker`);
      return undefined;
    });
    if (record) return { ref: o.deployed, record };
  }
  if (o.localOnly) return undefined;
  const ref = rememberedBroker(o.home);
  if (!ref) return undefined;
  const record = await lookupDeployedBroker(ref, o.lookup);
  if (!record) {
    throw new SkiffError('CLI_BROKER_UNREACHABLE',
      `${skiffPaths(o.home).cliFile} names the deployed broker of workspace ${ref.workspace} (${ref.region}), but SSM parameter ${brokerParameterName(ref.workspace)} is gone; ` +
      `run \`skiff setup aws --workspace ${ref.workspace} --region ${ref.region}\`, or delete that file to use the local broker`);
  }
  return { ref, record };
}

async function connectDeployed(o: ConnectOptions, t: { ref: DeployedBrokerRef; record: DeployedBrokerParameter }): Promise<BrokerApi> {
  const { record, ref } = t;
  const what = `the deployed broker of workspace ${ref.workspace} (${ref.region})`;
  const pinned = createPinnedFetch({ caPem: record.caPem, pinnedFrom: `the broker CA published in SSM parameter ${brokerParameterName(ref.workspace)} (${ref.region})` });
  await waitForBroker(record.url, pinned.fetch, what, { ...(o.progress ? { progress: o.progress } : {}), ...o.wait });
  const h = await health(record.url, pinned.fetch);
  if (!h) throw new SkiffError('CLI_BROKER_UNREACHABLE', `${what} at ${record.url} stopped answering`);
  // The record names the broker: a server at that address calling itself another is not it.
  if (h.auth === 'aws-iam' && record.brokerId && h.brokerId !== record.brokerId) {
    throw new SkiffError('CLI_BROKER_UNTRUSTED', `${what} at ${record.url} calls itself ${JSON.stringify(h.brokerId ?? '')}, not ${record.brokerId} as its record says; nothing was sent`);
  }
  return withUserToken(o, record.url, h, pinned.fetch, o.apiKey, record);
}

/**
 * Calls with a user token: from an AWS IAM sign-in when the broker says it uses one, else bought once with the API
 * key (the local broker's is in its home).
 */
function withUserToken(o: ConnectOptions, base: string, h: HealthResponse, f: typeof fetch, apiKey: string | undefined, deployed?: DeployedBrokerParameter): BrokerApi {
  let userToken: () => Promise<string>;
  let renew: (() => void) | undefined;
  if (h.auth === 'aws-iam') {
    const aws = createAwsTokenSource({
      home: o.home, brokerUrl: base, health: h, credentialSource: o.aws?.credentialSource ?? 'default', fetch: f,
      ...(o.aws?.stsEndpointUrl ? { stsEndpointUrl: o.aws.stsEndpointUrl } : {}), ...(o.aws?.endpointUrl ? { endpointUrl: o.aws.endpointUrl } : {}),
      ...(o.aws?.keys ? { keys: o.aws.keys } : {}),
    });
    userToken = () => aws.token();
    renew = () => aws.invalidate();
  } else {
    if (apiKey === undefined) throw new SkiffError('CLI_USAGE', `set SKIFF_API_KEY to the API key of the broker at ${base}`);
    const key = apiKey;
    let token: string | undefined;
    userToken = async () => (token ??= (await callBroker<{ token: string }>(base, 'POST', TOKEN_PATH, undefined, { token: key, code: 'CLI_BROKER_UNREACHABLE', fetch: f })).token);
  }
  return {
    url: base,
    fetch: f,
    ...(deployed ? { deployed } : {}),
    // Stopping a cloud cluster waits for its instances to terminate: minutes, not seconds.
    call: async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => {
      const send = async () => callBroker<T>(base, method, path, body, { token: await userToken(), code: 'CLI_BROKER_UNREACHABLE', timeoutMs: method === 'DELETE' ? 15 * 60_000 : 60_000, fetch: f });
      try {
        return await send();
      } catch (err) {
        // A kept sign-in the broker no longer takes (its signing key changed): sign in again, once.
        if (!renew || !isSkiffError(err, 'BRK_TOKEN_INVALID')) throw err;
        renew();
        return send();
      }
    },
  };
}

export async function connectBroker(o: ConnectOptions): Promise<BrokerApi> {
  const p = skiffPaths(o.home);
  let url = o.brokerUrl;
  let apiKey = o.apiKey;
  if (url === undefined) {
    const target = await deployedTarget(o);
    if (target) return connectDeployed(o, target);
    url = await localBrokerUrl(o.home);
    if (url === undefined) {
      if (!o.autoStart) throw new SkiffError('CLI_BROKER_UNREACHABLE', `no broker runs for ${p.home}; \`skiff up\` starts one`);
      url = await startLocalBroker(o.home, o.withoutEnv ?? [], o.progress);
    }
  }
  const h = await health(url);
  if (!h) throw new SkiffError('CLI_BROKER_UNREACHABLE', `broker ${url} does not answer; check the URL and that \`skiff broker\` runs there`);
  // The local broker's key is in its home (an aws-iam broker has none).
  if (o.brokerUrl === undefined && h.auth !== 'aws-iam') apiKey ??= readFileSync(p.apiKey, 'utf8').trim();
  return withUserToken(o, url, h, fetch, apiKey);
}
