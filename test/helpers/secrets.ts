// Where a secret could have leaked, searched the way the data-access tests need: every file under a directory, and
// the environments of processes. Each needle is reported by index, never printed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A Dask scheduler or worker process, by its command line: the one place the secret values belong. */
export const isDaskProcess = (cmd: string): boolean => /-m dask (scheduler|worker)/.test(cmd);

/** Regular files under `dir` holding a needle (files over 64 MiB, sockets and paths gone meanwhile are skipped). */
export function filesHolding(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 64 * 1024 * 1024) {
        let text: string;
        try {
          text = readFileSync(p, 'latin1');
        } catch {
          continue;
        }
        needles.forEach((n, i) => {
          if (text.includes(n)) found.push(`${p} holds secret #${i}`);
        });
      }
    }
  };
  walk(dir);
  return found;
}

/** Processes (these pids, or every one on the host: the VMs' PID namespaces nest in ours) with a needle in their environment. */
export function environsHolding(needles: string[], pids?: number[]): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const pid of pids ?? readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (needles.some((n) => environ.includes(n))) out.push({ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').slice(0, 160) });
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}
