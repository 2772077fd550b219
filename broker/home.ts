// Where skiff keeps its state: everything under one directory ($SKIFF_HOME, default ~/.skiff), so two
// homes never see each other.
import { chmodSync, lstatSync } from 'node:fs';
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
  /** The CLI's user tokens from aws-iam brokers (0600 files, one per broker id and credential source). */
  authDir: string;
  /** The CLI's own settings: which deployed broker to use (written by `skiff setup aws`), optional. */
  cliFile: string;
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
    authDir: join(h, 'auth'),
    cliFile: join(h, 'cli.json'),
  };
}

/**
 * Makes the home and its top folders private (0700), whatever mode they already had (a home made by hand is
 * often 0755): with the process umask at 077 (set at every entry point) all that skiff writes below is then
 * readable by this user only. A folder of another user is left as it is.
 */
export function makeHomePrivate(p: SkiffPaths): void {
  const uid = process.getuid?.();
  for (const dir of [p.home, p.brokerDir, p.caDir, p.tokenKeyDir, p.machinesDir, p.clustersDir, p.logsDir, p.authDir]) {
    try {
      const st = lstatSync(dir);
      if (st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) !== 0) chmodSync(dir, st.mode & 0o700);
    } catch {
      // not there (yet): made private when created
    }
  }
}

/** Files and folders this process creates are its user's only (0600 files, 0700 folders). */
export function privateUmask(): void {
  process.umask(0o077);
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
