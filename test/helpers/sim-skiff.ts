// skiff on the EC2 machine simulator, as a user runs it against AWS: a broker on a server of theirs (here, on
// the simulated internet address, HTTPS with a self-signed certificate the machines pin), the CLI and the
// Dask client beside it, all inside the simulator's outer namespace; the VMs reach the broker the way
// real instances would, through the VPC's route out.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DASK_PYTHON, ROOT, SKIFF } from './skiff.js';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { Ec2Sim } from '../sim/ec2-sim.js';
import { watchFleetGroups } from './sim-fleet-groups.js';

export const BROKER_PORT = 8443;
const DASK_INFO = join(ROOT, 'test/integration/fixtures/dask_info.py');

export interface SimSkiff {
  home: string;
  brokerUrl: string;
  /** The broker's self-signed certificate (what the machines pin) and its key. */
  brokerCert: string;
  brokerKey: string;
  /** The broker's log (its stdout). */
  brokerLog(): string;
  env: Record<string, string>;
  /** `skiff ARGS` in the outer namespace, talking to the broker. */
  run(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string>; withoutEnv?: string[] }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The real Dask client in the outer namespace: sum(range(100)) and every worker's thread count. */
  daskInfo(address: string, creds: { ca: string; cert: string; key: string }, timeoutS?: number): Promise<DaskInfo>;
  /** Kill the broker (SIGKILL) as a crash would; `startBroker()` brings it back on the same home. */
  killBroker(): Promise<void>;
  startBroker(): Promise<void>;
  stop(): Promise<void>;
}

export interface DaskInfo {
  ok: boolean;
  result?: number;
  workers?: Record<string, number>;
  error?: string;
}

export interface SimSkiffOptions {
  /** Added to the broker's environment (e.g. AWS_ENDPOINT_URL_EC2 for a proxy in front of moto). */
  brokerEnv?: Record<string, string>;
  /** Added to `skiff broker`'s arguments (e.g. --public-url of a proxy in front of it). */
  brokerArgs?: string[];
}

export async function startSimSkiff(sim: Ec2Sim, opts: SimSkiffOptions = {}): Promise<SimSkiff> {
  const home = mkdtempSync(join(tmpdir(), 'skiff-sim-home-'));
  const cert = join(home, 'broker-cert.pem');
  const key = join(home, 'broker-key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=skiff test broker',
    '-addext', `subjectAltName=IP:${sim.internetIp}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  const brokerUrl = `https://${sim.internetIp}:${BROKER_PORT}`;
  const brokerLog = join(home, 'broker-stdout.log');
  const base: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    ...sim.moto.env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SKIFF_HOME: home,
    SKIFF_PYTHON: DASK_PYTHON,
    NODE_EXTRA_CA_CERTS: cert,
    // The simulator signs the machines' instance identity documents with a test key; against the emulator the
    // broker trusts its certificate instead of AWS's.
    SKIFF_AWS_IDENTITY_CERT: sim.identityCertPath,
  };
  let broker: ChildProcess | undefined;
  const startBroker = async (): Promise<void> => {
    const b = sim.spawn(process.execPath, [SKIFF, 'broker', '--host', sim.internetIp, '--port', String(BROKER_PORT), '--tls-cert', cert, '--tls-key', key, ...(opts.brokerArgs ?? [])], {
      env: { ...base, ...opts.brokerEnv },
    });
    broker = b;
    // The broker logs to stdout (pino): into a file, as a service manager would, and read on failure.
    const logFile = createWriteStream(brokerLog, { flags: 'a' });
    b.stdout?.pipe(logFile);
    b.stderr?.pipe(logFile);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await sim.exec('curl', ['-fsS', '--max-time', '2', '--cacert', cert, `${brokerUrl}/v1/health`], { env: base });
      if (r.code === 0) break;
      if (b.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the broker did not start at ${brokerUrl}: exit ${String(b.exitCode)}; ${readTail(brokerLog)}`);
      }
      await sleep(200);
    }
  };
  await startBroker();
  const fleetGroups = watchFleetGroups(new EC2Client(sim.moto.clientConfig));
  const env: Record<string, string> = { ...base, SKIFF_BROKER_URL: brokerUrl, SKIFF_API_KEY: readFileSync(join(home, 'broker/api-key'), 'utf8').trim() };
  return {
    home,
    brokerUrl,
    brokerCert: cert,
    brokerKey: key,
    brokerLog: () => readTail(brokerLog, 60),
    env,
    run: (args, o = {}) => {
      // A user's own shell: more variables (their AWS config), fewer (the broker's EC2 keys are not theirs).
      const own: Record<string, string> = { ...env, ...o.env };
      for (const k of o.withoutEnv ?? []) delete own[k];
      return sim.exec(process.execPath, [SKIFF, ...args], { env: own, timeoutMs: o.timeoutMs ?? 600_000 });
    },
    async daskInfo(address, creds, timeoutS = 30) {
      const r = await sim.exec(DASK_PYTHON, [DASK_INFO, address, creds.ca, creds.cert, creds.key, String(timeoutS)], { env: base, timeoutMs: (timeoutS + 30) * 1000 });
      try {
        return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as DaskInfo;
      } catch {
        return { ok: false, error: `client printed no result (exit ${r.code}): ${r.stderr.slice(-800)}` };
      }
    },
    async killBroker() {
      const b = broker;
      if (!b || b.exitCode !== null) return;
      const exited = new Promise((r) => b.once('exit', r));
      b.kill('SIGKILL');
      await exited;
    },
    startBroker,
    async stop() {
      fleetGroups.stop();
      const b = broker;
      if (b && b.exitCode === null) {
        const exited = new Promise((r) => b.once('exit', r));
        b.kill('SIGTERM');
        const timer = setTimeout(() => b.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function readTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path})`;
  }
}
