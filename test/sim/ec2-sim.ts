// The EC2 machine simulator, as tests use it. startEc2Sim() makes one outer network namespace (the VPC's
// router and "the internet", 198.51.100.1), runs moto there, and turns every moto instance tagged owner=skiff
// into a VM that boots its real user-data (see README.md in this folder).
//
//   const sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '500' } });
//   t.teardown(() => sim.stop());
//   const ec2 = new EC2Client(sim.moto.clientConfig);          // from the test process, via 127.0.0.1
//   ... RunInstances ...
//   const [vm] = await sim.waitForVms(1);                        // booted, user-data finished
//   t.ok(await sim.canConnect(vm.publicIp!, 443, 2000));

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, type DaemonClient } from './daemon-client.js';
import { registerSweep, sweepSimulator } from './host-cleanup.js';
import { INTERNET_IP, MOTO_PORT, newSimNames } from './names.js';
import { execInOuter, execInVm, outerEnv, spawnInOuter, stopGroup, type ExecOptions } from './outer-exec.js';
import { listenTcpToUnix } from './port-forward.js';
import { runOk, type RunResult } from './run.js';
import type { DaemonConfig, ImageProfiles, SpotAction, VmImageProfile, VmSnapshot, VmState } from './types.js';
import { describeVms, vmInfo, type VmInfo } from './vm-view.js';

export type { VmInfo } from './vm-view.js';
export type { ImageProfiles, SpotAction, VmImageProfile } from './types.js';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface Ec2SimOptions {
  /** Default us-east-1. */
  region?: string;
  /** Added to every systemd unit's environment in the VMs (AWS_ENDPOINT_URL is always added). */
  unitEnv?: Record<string, string>;
  images?: ImageProfiles;
  /** Every line the simulator logs; by default kept (the last 200) for failure messages only. */
  log?: (line: string) => void;
  /** How often moto is polled; default 400 ms. */
  pollIntervalMs?: number;
  /** Default 6 (two cores). */
  maxVms?: number;
  /** Bound on starting moto and the daemon; default 60 s. */
  startTimeoutMs?: number;
}

export interface Ec2Sim {
  id: string;
  /** The simulator's temp dir (moto's cwd, every VM's state): gone after stop(). */
  stateRoot: string;
  outerNs: string;
  internetIp: string;
  identityCertPem: string;
  identityCertPath: string;
  moto: {
    /** For processes in the outer namespace and VMs: http://198.51.100.1:5000. */
    endpoint: string;
    /** For the test process (host namespace): http://127.0.0.1:PORT. */
    hostEndpoint: string;
    /** Environment for an AWS client in the outer namespace (endpoint, fake credentials, region). */
    env: Record<string, string>;
    /** For SDK clients in the test process. */
    clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  };
  exec(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<RunResult>;
  spawn(cmd: string, args: readonly string[], opts?: Omit<ExecOptions, 'timeoutMs' | 'input'>): ChildProcess;
  /** Makes host:port of the outer namespace reachable from the test process; returns the 127.0.0.1 port. */
  expose(port: number, host?: string): Promise<number>;
  vms(): VmInfo[];
  vm(instanceId: string): VmInfo | undefined;
  waitFor<T>(predicate: () => T | undefined | null | false | Promise<T | undefined | null | false>, o: { timeoutMs: number; what: string }): Promise<T>;
  /** Waits until `count` VMs (of `role`, if given) are in `state` (default running: user-data finished). */
  waitForVms(count: number, o?: { state?: VmState; role?: string; timeoutMs?: number }): Promise<VmInfo[]>;
  vmExec(instanceId: string, cmd: string, args: readonly string[], opts?: Omit<ExecOptions, 'cwd'>): Promise<RunResult>;
  /** A TCP connection to host:port from the outer namespace, or from a VM with `from`. */
  canConnect(host: string, port: number, timeoutMs?: number, o?: { from?: string }): Promise<boolean>;
  setSpotAction(instanceId: string, action?: SpotAction): Promise<void>;
  setRebalanceRecommendation(instanceId: string, noticeTime?: string): Promise<void>;
  setImage(key: string, profile?: VmImageProfile): Promise<void>;
  /** Every VM's state and log tails, and the simulator's last log lines: for failure messages. */
  diagnostics(): string;
  /** Removes everything (VMs, moto, namespaces, processes started with spawn, temp dir). Idempotent. */
  stop(): Promise<void>;
}

export async function startEc2Sim(opts: Ec2SimOptions = {}): Promise<Ec2Sim> {
  // The test process's own SDK clients must never look for instance metadata on the host.
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  const region = opts.region ?? 'us-east-1';
  const names = newSimNames();
  const stateRoot = mkdtempSync(join(tmpdir(), `skiff-ec2sim-${names.id}-`));
  const recent: string[] = [];
  const log = (line: string) => {
    recent.push(line);
    if (recent.length > 200) recent.shift();
    opts.log?.(line);
  };
  const snapshots = new Map<string, VmSnapshot>();
  const children = new Set<ChildProcess>();
  const servers: Server[] = [];
  let daemon: DaemonClient | undefined;
  const sweep = () => {
    for (const s of servers) s.close();
    sweepSimulator(names, stateRoot, [...children].flatMap((c) => (c.pid ? [c.pid] : [])));
  };
  const unregister = registerSweep(sweep);

  try {
    await runOk('ip', ['netns', 'add', names.outerNs]);
    const motoEndpoint = `http://${INTERNET_IP}:${MOTO_PORT}`;
    const cfg: DaemonConfig = {
      ...names,
      stateRoot,
      region,
      unitEnv: { AWS_ENDPOINT_URL: motoEndpoint, ...opts.unitEnv },
      images: opts.images ?? {},
      repoRoot: REPO_ROOT,
      pollIntervalMs: opts.pollIntervalMs ?? 400,
      motoPython: process.env['SKIFF_MOTO_PYTHON'] ?? 'python3',
      maxVms: opts.maxVms ?? 6,
      hostNetNs: readlinkSync('/proc/self/ns/net'),
    };
    const configPath = join(stateRoot, 'daemon.json');
    writeFileSync(configPath, JSON.stringify(cfg));
    // tap's loaders and hooks stay out of the daemon (its stdout is the channel).
    const env = outerEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
    for (const k of Object.keys(env)) if (k === 'NODE_OPTIONS' || k.startsWith('TAP') || k.startsWith('_TAPJS')) delete env[k];
    daemon = await startDaemon({
      outerNs: names.outerNs,
      configPath,
      repoRoot: REPO_ROOT,
      env,
      startTimeoutMs: opts.startTimeoutMs ?? 60_000,
      log,
      onVm: (vm) => snapshots.set(vm.instanceId, vm),
    });
    const d = daemon;
    const expose = async (port: number, host = INTERNET_IP) => {
      const { socketPath } = await d.request('expose', { host, port });
      const fwd = await listenTcpToUnix(socketPath);
      servers.push(fwd.server);
      return fwd.port;
    };
    const hostEndpoint = `http://127.0.0.1:${await expose(MOTO_PORT)}`;
    const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
    const vms = () => [...snapshots.values()].map(vmInfo);
    const diagnostics = () => `${describeVms(vms())}\n\nsimulator log, last 30 lines:\n${recent.slice(-30).join('\n')}`;

    const waitFor: Ec2Sim['waitFor'] = async (predicate, o) => {
      const deadline = Date.now() + o.timeoutMs;
      for (;;) {
        const v = await predicate();
        if (v !== undefined && v !== null && v !== false) return v;
        if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs / 1000} s waiting for ${o.what}\n\n${diagnostics()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const pid1Of = (instanceId: string) => {
      const vm = snapshots.get(instanceId);
      if (!vm?.pid1 || vm.state === 'gone') throw new Error(`no running VM for ${instanceId} (${vm ? vm.state : 'never booted'})\n\n${diagnostics()}`);
      return vm.pid1;
    };

    let stopping: Promise<void> | undefined;
    const sim: Ec2Sim = {
      id: names.id,
      stateRoot,
      outerNs: names.outerNs,
      internetIp: INTERNET_IP,
      identityCertPem: d.ready.identityCertPem,
      identityCertPath: join(stateRoot, 'identity-cert.pem'),
      moto: {
        endpoint: motoEndpoint,
        hostEndpoint,
        env: {
          AWS_ENDPOINT_URL: motoEndpoint,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          AWS_REGION: region,
          AWS_DEFAULT_REGION: region,
          AWS_EC2_METADATA_DISABLED: 'true',
        },
        clientConfig: { endpoint: hostEndpoint, region, credentials },
      },
      exec: (cmd, args, o) => execInOuter(names.outerNs, cmd, args, o),
      spawn: (cmd, args, o) => {
        const child = spawnInOuter(names.outerNs, cmd, args, o);
        children.add(child);
        child.once('exit', () => children.delete(child));
        return child;
      },
      expose,
      vms,
      vm: (id) => {
        const s = snapshots.get(id);
        return s ? vmInfo(s) : undefined;
      },
      waitFor,
      waitForVms: (count, o = {}) => {
        const state = o.state ?? 'running';
        const what = `${count} VM(s)${o.role ? ` with role ${o.role}` : ''} ${state}`;
        return waitFor(
          () => {
            const found = vms().filter((v) => v.state === state && (o.role === undefined || v.role === o.role));
            return found.length >= count ? found : undefined;
          },
          { timeoutMs: o.timeoutMs ?? 60_000, what },
        );
      },
      vmExec: (id, cmd, args, o) => execInVm(pid1Of(id), cmd, args, o),
      canConnect: async (host, port, timeoutMs = 2000, o = {}) => {
        if (o.from === undefined) return (await d.request('canConnect', { host, port, timeoutMs }, timeoutMs + 10_000)).connected;
        const r = await execInVm(pid1Of(o.from), 'timeout', [String(timeoutMs / 1000), 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', host, String(port)], { timeoutMs: timeoutMs + 10_000 });
        return r.code === 0;
      },
      setSpotAction: async (instanceId, action) => {
        await d.request('setSpotAction', { instanceId, ...(action ? { action } : {}) });
      },
      setRebalanceRecommendation: async (instanceId, noticeTime) => {
        await d.request('setRebalance', { instanceId, ...(noticeTime ? { noticeTime } : {}) });
      },
      setImage: async (key, profile) => {
        await d.request('setImage', { key, ...(profile ? { profile } : {}) });
      },
      diagnostics,
      stop: () =>
        (stopping ??= (async () => {
          await Promise.all([...children].map((c) => stopGroup(c)));
          await d.request('shutdown', {}, 60_000).catch((err: unknown) => log(`shutdown: ${String(err)}`));
          await Promise.race([d.exited, new Promise((r) => setTimeout(r, 10_000))]);
          sweep();
          unregister();
        })()),
    };
    return sim;
  } catch (err) {
    daemon?.kill();
    sweep();
    unregister();
    throw err;
  }
}
