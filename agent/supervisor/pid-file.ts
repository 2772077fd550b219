// The pid of the Dask process, kept in a file so a restarted agent can end the one its previous run left
// behind (an agent killed with SIGKILL leaves its child running: it would hold the scheduler's port, or
// keep a worker's name taken at the scheduler). The pid is checked against the process's command line
// before any signal, so a pid the kernel has since given to another process is left alone.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';

export interface ReapOptions {
  pidFile: string;
  /** A string the stale process's command line must contain (e.g. this machine's certificate path). */
  marker: string;
  log: Logger;
  /** Time between SIGTERM and SIGKILL (default 5 s). */
  graceMs?: number;
  kill?: (pid: number, signal: NodeJS.Signals | 0) => void;
  cmdline?: (pid: number) => string | undefined;
}

export function writePidFile(path: string, pid: number): void {
  writeFileSync(`${path}.tmp`, `${pid}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** Removes the file if it still names this pid (a newer process may have replaced it). */
export function clearPidFile(path: string, pid: number): void {
  if (readPid(path) === pid) rmSync(path, { force: true });
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const procCmdline = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Ends the process a previous run recorded, if it is still that process. Resolves once it is gone. */
export async function reapStale(o: ReapOptions): Promise<void> {
  const pid = readPid(o.pidFile);
  if (pid === undefined) return;
  const kill = o.kill ?? ((p: number, s: NodeJS.Signals | 0) => process.kill(p, s));
  const cmdline = o.cmdline ?? procCmdline;
  const alive = (): boolean => {
    const line = cmdline(pid);
    return line !== undefined && line.includes(o.marker);
  };
  if (!alive()) {
    rmSync(o.pidFile, { force: true });
    return;
  }
  o.log.warn({ pid }, 'ending the Dask process a previous run of the agent left behind');
  const signal = (s: NodeJS.Signals): void => {
    try {
      kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const graceMs = o.graceMs ?? 5000;
  for (let waited = 0; alive() && waited < graceMs; waited += 50) await sleep(50);
  if (alive()) signal('SIGKILL');
  for (let waited = 0; alive() && waited < 5000; waited += 50) await sleep(50);
  rmSync(o.pidFile, { force: true });
}
