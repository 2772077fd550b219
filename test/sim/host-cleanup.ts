// Leaving nothing behind when a test file ends badly. Each live simulator registers a synchronous sweep; the
// sweeps run on process exit and on SIGINT/SIGTERM/SIGHUP (where nothing asynchronous can run any more).
// This is process-wide state on purpose: signal handlers are per process, not per simulator.

import { rmSync } from 'node:fs';
import { ourNamespaces, sweepNamespace } from './netns.js';
import type { SimNames } from './names.js';

const sweeps = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const sweep of [...sweeps]) {
    try {
      sweep();
    } catch {
      // best effort: the next sweep must still run
    }
  }
  sweeps.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      runAll();
      // Ours was the only listener: die of the signal, as the process would have without us.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

/** Registers a sweep; returns the function that unregisters it. */
export function registerSweep(sweep: () => void): () => void {
  install();
  sweeps.add(sweep);
  return () => sweeps.delete(sweep);
}

/**
 * Synchronously removes everything of one simulator: the processes in its namespaces (by the pids the kernel
 * lists for each: the daemon, moto, the VMs, whatever a test started there), the namespaces (with their
 * veths), and its temp dir. The VMs' mounts live in their own mount namespaces and go with their processes.
 */
export function sweepSimulator(sim: Pick<SimNames, 'nsPrefix' | 'id'>, stateRoot: string, pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  for (const ns of ourNamespaces(sim)) sweepNamespace(sim, ns);
  rmSync(stateRoot, { recursive: true, force: true });
}
