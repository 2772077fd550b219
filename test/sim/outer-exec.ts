// Running processes where a test needs them: in the outer namespace (the broker, the CLI, a Dask client: "the
// internet") or inside a VM (its namespaces, entered through its pid 1). Outside a VM every process gets
// AWS_EC2_METADATA_DISABLED=true, so an SDK never probes 169.254.169.254 from there; inside a VM the
// environment is the VM's own (clean, no AWS_* at all), as on a real machine.

import { spawn, type ChildProcess } from 'node:child_process';
import { run, type RunResult } from './run.js';

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Default 60 s. */
  timeoutMs?: number;
  input?: string;
}

export const VM_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8'];

export function outerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, AWS_EC2_METADATA_DISABLED: 'true' };
}

export function execInOuter(outerNs: string, cmd: string, args: readonly string[], o: ExecOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', outerNs, cmd, ...args], {
    env: outerEnv(o.env),
    timeoutMs: o.timeoutMs ?? 60_000,
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.input !== undefined ? { input: o.input } : {}),
  });
}

/** In its own process group, so stopping it also stops what it started. */
export function spawnInOuter(outerNs: string, cmd: string, args: readonly string[], o: Omit<ExecOptions, 'timeoutMs' | 'input'> = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', outerNs, cmd, ...args], {
    env: outerEnv(o.env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(o.cwd ? { cwd: o.cwd } : {}),
  });
}

/** Runs inside the VM whose pid 1 is `pid1`: all its namespaces, its root and cwd, its clean environment. */
export function execInVm(pid1: number, cmd: string, args: readonly string[], o: Omit<ExecOptions, 'cwd'> = {}): Promise<RunResult> {
  const env = [...VM_ENV, ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`)];
  return run('nsenter', ['-t', String(pid1), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--', 'env', '-i', ...env, cmd, ...args], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    timeoutMs: o.timeoutMs ?? 60_000,
    ...(o.input !== undefined ? { input: o.input } : {}),
  });
}

/** Stops a spawned process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGroup(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs + 2000))]);
  clearTimeout(timer);
}
