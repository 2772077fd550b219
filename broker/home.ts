// Where skiff keeps its state: everything under one directory ($SKIFF_HOME, default ~/.skiff), so two
// homes never see each other.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface SkiffPaths {
  home: string;
  brokerDir: string;
  store: string;
  caDir: string;
  tokenKeyDir: string;
  apiKey: string;
  brokerInfo: string;
  brokerLock: string;
  brokerLog: string;
  machinesDir: string;
  clustersDir: string;
  /** The local log store: <logsDir>/<group>/<stream>.jsonl */
  logsDir: string;
  /** The workspace's settings (watchdog thresholds, webhook), optional. */
  config: string;
}

export function skiffPaths(home: string): SkiffPaths {
  const h = resolve(home);
  const b = join(h, 'broker');
  return {
    home: h,
    brokerDir: b,
    store: join(b, 'store.jsonl'),
    caDir: join(b, 'ca'),
    tokenKeyDir: join(b, 'token-key'),
    apiKey: join(b, 'api-key'),
    brokerInfo: join(b, 'broker.json'),
    brokerLock: join(b, 'broker.lock'),
    brokerLog: join(b, 'broker.log'),
    machinesDir: join(h, 'machines'),
    clustersDir: join(h, 'clusters'),
    logsDir: join(h, 'logs'),
    config: join(h, 'config.json'),
  };
}

export function defaultHome(env: NodeJS.ProcessEnv): string {
  return env['SKIFF_HOME'] && env['SKIFF_HOME'] !== '' ? env['SKIFF_HOME'] : join(homedir(), '.skiff');
}

export interface BrokerInfo {
  url: string;
  pid: number;
  port: number;
  startedAt: string;
}
