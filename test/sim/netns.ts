// The simulator's network plumbing. Every command names its namespace explicitly (`ip -n NS`, `ip netns exec
// NS`), and refuses a namespace that is not this simulator's, so nothing here can ever configure the host's
// own network namespace, whichever namespace the caller runs in.
//
//   outer namespace (lo: 198.51.100.1 "internet", 169.254.169.254 IMDS, 169.254.1.1 gateway)
//     ├── sv<id>1 ── veth ── eth0 in <ns>-vm1 (10.0.1.4/32; default via 169.254.1.1)
//     └── sv<id>2 ── veth ── eth0 in <ns>-vm2 (10.0.1.5/32)
//   routes in the outer namespace: 10.0.1.4/32 and the VM's public /32 via its veth; no default route, so a
//   packet to any other address dies there. Public addresses are 1:1 NAT in the outer namespace (firewall.ts),
//   as an internet gateway does: inside, a VM sees only its private address, as on EC2.

import { GATEWAY_IP, IMDS_IP, INTERNET_IP, isOurNs, type SimNames } from './names.js';
import { runOk, runSync } from './run.js';

function check(sim: SimNames, ns: string): void {
  if (!isOurNs(sim, ns)) throw new Error(`refusing to touch network namespace ${ns}: not one of simulator ${sim.id}'s`);
}

const ip = (ns: string, ...args: string[]) => runOk('ip', ['-n', ns, ...args], { timeoutMs: 10_000 });
const sysctl = (ns: string, ...settings: string[]) => runOk('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings], { timeoutMs: 10_000 });

/** Addresses and forwarding of the outer namespace (created empty by the test side). */
export async function configureOuter(sim: SimNames): Promise<void> {
  const ns = sim.outerNs;
  check(sim, ns);
  await ip(ns, 'link', 'set', 'lo', 'up');
  for (const addr of [INTERNET_IP, IMDS_IP, GATEWAY_IP]) await ip(ns, 'addr', 'add', `${addr}/32`, 'dev', 'lo');
  // The outer namespace is the VPC's router. Redirects would tell a VM to talk to a peer directly, which it cannot.
  await sysctl(ns, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0');
}

export interface VmNet {
  ns: string;
  veth: string;
  privateIp: string;
  publicIp?: string;
  mac?: string;
}

/** The VM's namespace, its veth (created inside namespaces, never in the host's) and its routes. */
export async function addVmNetwork(sim: SimNames, vm: VmNet): Promise<void> {
  check(sim, vm.ns);
  await runOk('ip', ['netns', 'add', vm.ns]);
  await ip(sim.outerNs, 'link', 'add', vm.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm.ns);
  await ip(sim.outerNs, 'link', 'set', vm.veth, 'up');
  if (vm.mac) await ip(vm.ns, 'link', 'set', 'eth0', 'address', vm.mac);
  await ip(vm.ns, 'link', 'set', 'lo', 'up');
  await ip(vm.ns, 'link', 'set', 'eth0', 'up');
  await ip(vm.ns, 'addr', 'add', `${vm.privateIp}/32`, 'dev', 'eth0');
  await ip(vm.ns, 'route', 'add', GATEWAY_IP, 'dev', 'eth0', 'scope', 'link');
  await ip(vm.ns, 'route', 'add', 'default', 'via', GATEWAY_IP, 'dev', 'eth0', 'src', vm.privateIp);
  await ip(sim.outerNs, 'route', 'add', `${vm.privateIp}/32`, 'dev', vm.veth);
  // The public /32 only gives locally made packets a first route: the NAT then rewrites them to the private address.
  if (vm.publicIp) await ip(sim.outerNs, 'route', 'add', `${vm.publicIp}/32`, 'dev', vm.veth);
}

/** Kills what is left in the VM's namespace and deletes it (the veth and its routes go with it). */
export function removeVmNetwork(sim: SimNames, ns: string): void {
  check(sim, ns);
  sweepNamespace(sim, ns);
}

/** The pids whose network namespace is `ns` (`ip netns pids`). */
export function nsPids(ns: string): number[] {
  const r = runSync('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/** SIGKILLs every process in `ns` (by pid, as listed by the kernel) and deletes the namespace. Synchronous. */
export function sweepNamespace(sim: Pick<SimNames, 'nsPrefix' | 'id'>, ns: string): void {
  if (!isOurNs(sim, ns)) throw new Error(`refusing to sweep network namespace ${ns}: not one of simulator ${sim.id}'s`);
  for (let round = 0; round < 5; round++) {
    const pids = nsPids(ns);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    runSync('sleep', ['0.05']);
  }
  runSync('ip', ['netns', 'del', ns]);
}

/** This simulator's namespaces that still exist, VMs first, outer last. */
export function ourNamespaces(sim: Pick<SimNames, 'nsPrefix'>): string[] {
  const r = runSync('ip', ['netns', 'list']);
  const names = r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n && isOurNs(sim, n));
  return names.sort((a, b) => (a === sim.nsPrefix ? 1 : b === sim.nsPrefix ? -1 : a.localeCompare(b)));
}
