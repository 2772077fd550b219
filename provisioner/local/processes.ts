// Is a process (or any process of a group) still running? `kill(pid, 0)` alone says yes for a zombie,
// and an agent whose parent (a broker that was killed) is gone may stay a zombie when the machine's
// init does not reap it. So the state letter in /proc/<pid>/stat decides: Z (zombie) and X (dead) are gone.
import { readdirSync, readFileSync } from 'node:fs';

function stat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

const running = (s: { state: string } | undefined) => s !== undefined && s.state !== 'Z' && s.state !== 'X';

export function processAlive(pid: number): boolean {
  return running(stat(pid));
}

export function processGroupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const s = stat(pid);
    if (s && s.pgrp === pgid && running(s)) return true;
  }
  return false;
}
