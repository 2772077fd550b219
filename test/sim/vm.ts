// One simulated machine: its state directory, network namespace and process tree. The VM is the tree under
//   ip netns exec <vm ns> unshare --mount --pid --uts --ipc --fork --kill-child --mount-proc -- bash boot.sh
// whose pid 1 (boot.sh, then init.sh) runs the user-data. SIGKILL to that unshare ends pid 1 (--kill-child)
// and with it every process of the VM's PID namespace; the mounts go with its mount namespace.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimInstance } from './ec2-view.js';
import { writeProfile } from './images.js';
import { addVmNetwork, removeVmNetwork } from './netns.js';
import { vmNames, type SimNames } from './names.js';
import type { VmImageProfile, VmSnapshot } from './types.js';

export const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), 'guest');
const VM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Upper bound of each VM's tmpfs "root volume" (memory is only used as files are written). */
const DISK_SIZE = '4g';

export interface Vm {
  snapshot: VmSnapshot;
  /** The latest record from moto (IMDS reads it). */
  inst: SimInstance;
  userData?: Buffer;
  /** Resolves when pid 1 has gone, by itself (`byItself`) or because the simulator killed the VM. */
  exited: Promise<{ byItself: boolean }>;
  /** SIGKILLs the VM and removes its namespace. Idempotent. */
  destroy(reason: string): Promise<void>;
}

export interface BootInput {
  sim: SimNames;
  n: number;
  inst: SimInstance & { privateIp: string };
  stateRoot: string;
  unitEnv: Record<string, string>;
  profile: VmImageProfile | undefined;
  repoRoot: string;
  userData?: Buffer;
  log: (line: string) => void;
  /** Called once the network exists and before anything in the VM runs: the firewall must know the VM. */
  beforeStart: () => Promise<void>;
}

/** KEY=VALUE lines in systemd's EnvironmentFile= format, values double-quoted. */
export function envFileText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`unit environment: ${JSON.stringify(k)} is not a variable name`);
      if (/[\n\r]/.test(v)) throw new Error(`unit environment: ${k} must be one line`);
      return `${k}="${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    })
    .join('\n')
    .concat('\n');
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** What the host hides inside the VM: the top-level directory holding the repository, unless it is a system one. */
export function hiddenPaths(repoRoot: string): string[] {
  const top = `/${repoRoot.split('/').filter(Boolean)[0] ?? ''}`;
  const system = ['/', '/usr', '/etc', '/var', '/opt', '/root', '/tmp', '/run', '/home', '/srv', '/mnt', '/proc', '/sys', '/dev'];
  return system.includes(top) ? [repoRoot] : [top];
}

function prepareStateDir(input: BootInput, stateDir: string): void {
  for (const d of ['log', 'run', 'disk']) mkdirSync(join(stateDir, d), { recursive: true });
  writeFileSync(join(stateDir, 'run', 'unit.env'), envFileText(input.unitEnv));
  writeProfile(stateDir, input.profile);
  writeFileSync(join(stateDir, 'hide'), hiddenPaths(input.repoRoot).join('\n') + '\n');
  const bootEnv: Record<string, string> = {
    VM_HOSTNAME: `ip-${input.inst.privateIp.replace(/\./g, '-')}`,
    HOST_MNT_NS: readlinkSync('/proc/self/ns/mnt'),
    GUEST_DIR,
    DISK_SIZE,
    ...(input.profile?.nodeVersion ? { NODE_VERSION: input.profile.nodeVersion } : {}),
  };
  writeFileSync(
    join(stateDir, 'boot.env'),
    Object.entries(bootEnv)
      .map(([k, v]) => `${k}=${shq(v)}`)
      .join('\n') + '\n',
  );
}

async function findPid1(unsharePid: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (children[0]) return Number(children[0]);
    } catch {
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

export async function bootVm(input: BootInput): Promise<Vm> {
  const { ns, veth } = vmNames(input.sim, input.n);
  const stateDir = join(input.stateRoot, 'vms', input.inst.instanceId);
  prepareStateDir(input, stateDir);
  const snapshot: VmSnapshot = {
    instanceId: input.inst.instanceId,
    privateIp: input.inst.privateIp,
    state: 'booting',
    netns: ns,
    stateDir,
    imageId: input.inst.imageId,
    instanceType: input.inst.instanceType,
  };
  if (input.inst.tags['skiff:role']) snapshot.role = input.inst.tags['skiff:role'];
  if (input.inst.publicIp) snapshot.publicIp = input.inst.publicIp;

  await addVmNetwork(input.sim, { ns, veth, privateIp: input.inst.privateIp, ...(input.inst.publicIp ? { publicIp: input.inst.publicIp } : {}), ...(input.inst.mac ? { mac: input.inst.mac } : {}) });
  await input.beforeStart();

  let child: ChildProcess | undefined;
  let destroyed = false;
  let destroying: Promise<void> | undefined;
  let exited: Promise<{ byItself: boolean }> = Promise.resolve({ byItself: false });
  if (!input.profile?.neverBoots) {
    const consoleFd = openSync(join(stateDir, 'console.log'), 'a');
    const proc = spawn(
      'ip',
      ['netns', 'exec', ns, 'unshare', '--mount', '--pid', '--uts', '--ipc', '--fork', '--kill-child', '--mount-proc', '--', '/bin/bash', join(GUEST_DIR, 'boot.sh'), stateDir],
      { env: { PATH: VM_PATH }, stdio: ['ignore', consoleFd, consoleFd] },
    );
    closeSync(consoleFd);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve({ byItself: !destroyed })));
    if (proc.pid !== undefined) {
      const pid1 = await findPid1(proc.pid, 5000);
      if (pid1 !== undefined) snapshot.pid1 = pid1;
    }
  }
  input.log(`${snapshot.instanceId} (${snapshot.role ?? 'no role'}) booting in ${ns}: ${snapshot.privateIp}${snapshot.publicIp ? ` / ${snapshot.publicIp}` : ''}`);

  const vm: Vm = {
    snapshot,
    inst: input.inst,
    exited,
    // Once: the loop and a power-off may both end a VM; the first reason stays.
    destroy: (reason) => (destroying ??= end(reason)),
  };
  async function end(reason: string): Promise<void> {
    destroyed = true;
    // SIGKILL to pid 1 first (forced even for a namespace's init when sent from outside): its parent, unshare,
    // reaps it, and pid 1's end kills and reaps the whole PID namespace; unshare then exits. Killing unshare
    // first would leave pid 1 a zombie of the host's init for a while.
    const kill = (pid: number | undefined) => {
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    if (child && child.exitCode === null && child.signalCode === null) {
      kill(snapshot.pid1);
      const late = setTimeout(() => kill(child?.pid), 2000);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      clearTimeout(late);
    }
    removeVmNetwork(input.sim, ns);
    snapshot.state = 'gone';
    snapshot.goneReason = reason;
    delete snapshot.pid1;
    input.log(`${snapshot.instanceId} gone: ${reason}`);
  }
  if (input.userData) vm.userData = input.userData;
  return vm;
}

/** Reads what init writes into /run/skiff-sim (the host side of it): boot finished, user-data exit code. */
export function refreshBootState(vm: Vm): boolean {
  if (vm.snapshot.state !== 'booting') return false;
  const run = join(vm.snapshot.stateDir, 'run');
  if (!existsSync(join(run, 'boot-finished'))) return false;
  vm.snapshot.state = 'running';
  try {
    const code = Number(readFileSync(join(run, 'user-data-exit'), 'utf8').trim());
    if (Number.isInteger(code)) vm.snapshot.userDataExit = code;
  } catch {
    // no user-data, or it never ran
  }
  return true;
}
