// How the CLI reaches its broker. With --broker-url / SKIFF_BROKER_URL it talks to that broker (a
// server of the user's, with SKIFF_API_KEY). Otherwise it uses the local broker of $SKIFF_HOME,
// starting one in the background on first use and reusing it afterwards, so `skiff up` just works.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SkiffError, isSkiffError } from '../api/errors.js';
import { callBroker } from '../api/client.js';
import { HEALTH_PATH, TOKEN_PATH } from '../api/routes.js';
import { skiffPaths, type BrokerInfo } from '../home.js';
import type { HealthResponse } from '../api/auth.js';
import { createAwsTokenSource } from './aws-login.js';

export interface BrokerApi {
  url: string;
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
  /** For a broker that signs people in with their AWS identity (aws-login.ts). */
  aws?: { credentialSource: string; stsEndpointUrl?: string; endpointUrl?: string };
}

async function health(url: string): Promise<HealthResponse | undefined> {
  try {
    const res = await fetch(new URL(HEALTH_PATH, url), { signal: AbortSignal.timeout(1500) });
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

export async function connectBroker(o: ConnectOptions): Promise<BrokerApi> {
  const p = skiffPaths(o.home);
  let url = o.brokerUrl;
  let apiKey = o.apiKey;
  if (url === undefined) {
    url = await localBrokerUrl(o.home);
    if (url === undefined) {
      if (!o.autoStart) throw new SkiffError('CLI_BROKER_UNREACHABLE', `no broker runs for ${p.home}; \`skiff up\` starts one`);
      url = await startLocalBroker(o.home, o.withoutEnv ?? [], o.progress);
    }
  }
  const local = o.brokerUrl === undefined;
  const h = await health(url);
  if (!h) throw new SkiffError('CLI_BROKER_UNREACHABLE', `broker ${url} does not answer; check the URL and that \`skiff broker\` runs there`);
  const base = url;
  let userToken: () => Promise<string>;
  let renew: (() => void) | undefined;
  if (h.auth === 'aws-iam') {
    const aws = createAwsTokenSource({ home: o.home, brokerUrl: base, health: h, credentialSource: o.aws?.credentialSource ?? 'default', ...(o.aws?.stsEndpointUrl ? { stsEndpointUrl: o.aws.stsEndpointUrl } : {}), ...(o.aws?.endpointUrl ? { endpointUrl: o.aws.endpointUrl } : {}) });
    userToken = () => aws.token();
    renew = () => aws.invalidate();
  } else {
    // The local broker's key is in its home (an aws-iam broker has none).
    if (local) apiKey ??= readFileSync(p.apiKey, 'utf8').trim();
    if (apiKey === undefined) throw new SkiffError('CLI_USAGE', `set SKIFF_API_KEY to the API key of the broker at ${url}`);
    const key = apiKey;
    let token: string | undefined;
    userToken = async () => (token ??= (await callBroker<{ token: string }>(base, 'POST', TOKEN_PATH, undefined, { token: key, code: 'CLI_BROKER_UNREACHABLE' })).token);
  }
  return {
    url: base,
    // Stopping a cloud cluster waits for its instances to terminate: minutes, not seconds.
    call: async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => {
      const send = async () => callBroker<T>(base, method, path, body, { token: await userToken(), code: 'CLI_BROKER_UNREACHABLE', timeoutMs: method === 'DELETE' ? 15 * 60_000 : 60_000 });
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
