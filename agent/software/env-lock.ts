// One builder per environment: the machines of a local cluster share this computer's environments, and all of
// them start at once. The lock is a file made with O_EXCL holding its owner's pid; a lock whose owner is gone
// (a killed agent) is taken over.
import { openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SkiffError } from '../../broker/api/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LockOptions {
  /** How long to wait for another builder (default 30 min: an install may take that long). */
  timeoutMs?: number;
  pollMs?: number;
  /** Called once when another process holds the lock. */
  onWait?: (ownerPid: number) => void;
  pid?: number;
}

/** Resolves with the release function once this process holds the lock at `path`. */
export async function acquireLock(path: string, o: LockOptions = {}): Promise<() => void> {
  const pid = o.pid ?? process.pid;
  const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
  let told = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: number;
    try {
      owner = Number(readFileSync(path, 'utf8'));
    } catch {
      continue; // released between our open and read
    }
    // An owner that never wrote its pid is a moment old; one that is gone left the lock behind.
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      rmSync(path, { force: true });
      continue;
    }
    if (!told && Number.isInteger(owner)) {
      o.onWait?.(owner);
      told = true;
    }
    if (Date.now() > deadline) throw new SkiffError('AGT_PROCESS_FAILED', `another process (pid ${owner}) has been building the environment at ${path.replace(/\.lock$/, '')} for too long; it still holds ${path}`);
    await sleep(o.pollMs ?? 250);
  }
}
