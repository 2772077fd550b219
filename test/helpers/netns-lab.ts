// A network namespace of one test's own: its loopback up and carrying the extra source addresses the test asks
// for (so many "clients on the internet" can be tried with nothing added to the host's namespace). Whatever runs
// in it is started through `ip netns exec`; remove() SIGKILLs every process left in it (by the pids the kernel
// lists) and deletes it, also on a failing or interrupted test (the simulator's process-wide sweep).
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { registerSweep } from '../sim/host-cleanup.js';
import { sweepNamespace } from '../sim/netns.js';
import { spawnInOuter, type ExecOptions } from '../sim/outer-exec.js';
import { runOk } from '../sim/run.js';

export interface NetnsLab {
  ns: string;
  /** argv prefix that runs a command inside the namespace. */
  launcher: string[];
  spawn(cmd: string, args: readonly string[], opts?: Omit<ExecOptions, 'timeoutMs' | 'input'>): ChildProcess;
  remove(): void;
}

export async function makeNetnsLab(addresses: string[]): Promise<NetnsLab> {
  const ns = `skgw-${process.pid}-${randomBytes(3).toString('hex')}`;
  const names = { id: ns, nsPrefix: ns };
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    unregister();
    sweepNamespace(names, ns);
  };
  const unregister = registerSweep(remove);
  try {
    await runOk('ip', ['netns', 'add', ns]);
    await runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const a of addresses) await runOk('ip', ['-n', ns, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  } catch (err) {
    remove();
    throw err;
  }
  return {
    ns,
    launcher: ['ip', 'netns', 'exec', ns],
    spawn: (cmd, args, opts) => spawnInOuter(ns, cmd, args, opts),
    remove,
  };
}
