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
import { SkiffError } from '../api/errors.js';
import { callBroker } from '../api/client.js';
import { HEALTH_PATH, TOKEN_PATH } from '../api/routes.js';
import { skiffPaths, type BrokerInfo } from '../home.js';
import { brokerParameterName, type DeployedBrokerParameter } from '../api/deployed-broker.js';
import { lookupDeployedBroker, rememberedBroker, waitForBroker, type DeployedBrokerRef, type LookupOptions, type WaitOptions } from './deployed-broker.js';
import { createPinnedFetch } from './pinned-fetch.js';
import { isSupportedRegion } from '../../provisioner/plan/regions.js';

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
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL(HEALTH_PATH, url), { signal: AbortSignal.timeout(1500) });
    return res.ok;
  } catch {
    return false;
  }
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
  // Until aws-iam login (issue 19) is in, a deployed broker takes its API key as any remote broker does.
  if (o.apiKey === undefined) throw new SkiffError('CLI_USAGE', `set SKIFF_API_KEY to the API key of ${what} at ${record.url}`);
  return withUserToken(record.url, o.apiKey, pinned.fetch, record);
}

/** Calls with a user token bought once with the API key. */
function withUserToken(base: string, apiKey: string, f: typeof fetch, deployed?: DeployedBrokerParameter): BrokerApi {
  let token: string | undefined;
  const userToken = async (): Promise<string> => {
    token ??= (await callBroker<{ token: string }>(base, 'POST', TOKEN_PATH, undefined, { token: apiKey, code: 'CLI_BROKER_UNREACHABLE', fetch: f })).token;
    return token;
  };
  return {
    url: base,
    fetch: f,
    ...(deployed ? { deployed } : {}),
    // Stopping a cloud cluster waits for its instances to terminate: minutes, not seconds.
    call: async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) =>
      callBroker<T>(base, method, path, body, { token: await userToken(), code: 'CLI_BROKER_UNREACHABLE', timeoutMs: method === 'DELETE' ? 15 * 60_000 : 60_000, fetch: f }),
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
    apiKey ??= readFileSync(p.apiKey, 'utf8').trim();
  } else if (!(await healthy(url))) {
    throw new SkiffError('CLI_BROKER_UNREACHABLE', `broker ${url} does not answer; check the URL and that \`skiff broker\` runs there`);
  }
  if (apiKey === undefined) throw new SkiffError('CLI_USAGE', `set SKIFF_API_KEY to the API key of the broker at ${url}`);
  return withUserToken(url, apiKey, fetch);
}
