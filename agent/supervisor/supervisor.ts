// Keeps one child process (the Dask scheduler or worker) running: restarts it with exponential backoff
// when it dies, gives up after too many crashes in a window (reporting the last lines it printed), and
// stops it cleanly on request (SIGTERM, then SIGKILL after a grace period).
//
// spawn and the timers are passed in so the restart policy is testable without real processes.

import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { clearPidFile, writePidFile } from './pid-file.js';

export interface SupervisorOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  log: Logger;
  spawn?: typeof nodeSpawn;
  /** Every line the child prints, with the stream it came from. */
  onLine?: (source: 'stdout' | 'stderr', line: string) => void;
  /** Called once when the child crashed more than maxCrashes times within crashWindowMs. */
  onGiveUp?: (reason: string, lastLines: string[]) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  maxCrashes?: number;
  crashWindowMs?: number;
  stopGraceMs?: number;
  now?: () => number;
  /** Where the running child's pid is kept, so a restarted agent can end one its previous run left behind. */
  pidFile?: string;
}

export interface Supervisor {
  start(): void;
  stop(): Promise<void>;
  pid(): number | undefined;
  lastLines(): string[];
}

const KEEP_LINES = 40;
// A Python exception line (`OSError: [Errno 98] ...`). A chained traceback prints the root cause first,
// so the first one of a run says why it died better than the last ("Scheduler failed to start.").
const EXCEPTION_LINE = /^\s*[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(: |$)/;

export function createSupervisor(opts: SupervisorOptions): Supervisor {
  const spawn = opts.spawn ?? nodeSpawn;
  const now = opts.now ?? Date.now;
  const initialBackoffMs = opts.initialBackoffMs ?? 500;
  const maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  const maxCrashes = opts.maxCrashes ?? 5;
  const crashWindowMs = opts.crashWindowMs ?? 60_000;
  const stopGraceMs = opts.stopGraceMs ?? 10_000;
  const log = opts.log;
  const recent: string[] = [];
  let firstError: string | undefined; // of the current run
  let crashes: number[] = [];
  let child: ChildProcess | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let backoffMs = initialBackoffMs;

  const remember = (source: 'stdout' | 'stderr', line: string): void => {
    recent.push(line);
    if (recent.length > KEEP_LINES) recent.shift();
    if (firstError === undefined && EXCEPTION_LINE.test(line)) firstError = line.trim().slice(0, 300);
    opts.onLine?.(source, line);
  };

  const launch = (): void => {
    restartTimer = undefined;
    if (stopping) return;
    const startedAt = now();
    firstError = undefined;
    const proc = spawn(opts.command, opts.args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    log.info({ process: opts.name, pid: proc.pid }, 'process started');
    const pid = proc.pid;
    if (opts.pidFile !== undefined && pid !== undefined) writePidFile(opts.pidFile, pid);
    if (proc.stdout) createInterface({ input: proc.stdout, crlfDelay: Infinity }).on('line', (l) => remember('stdout', l));
    if (proc.stderr) createInterface({ input: proc.stderr, crlfDelay: Infinity }).on('line', (l) => remember('stderr', l));
    proc.once('error', (err) => log.error({ process: opts.name, err }, 'process could not start'));
    proc.once('close', (code, signal) => {
      child = undefined;
      if (opts.pidFile !== undefined && pid !== undefined) clearPidFile(opts.pidFile, pid);
      if (stopping) return;
      const t = now();
      // A run that lasted a while resets the backoff: it was a crash, not a crash loop.
      if (t - startedAt > crashWindowMs) backoffMs = initialBackoffMs;
      crashes = [...crashes.filter((c) => t - c < crashWindowMs), t];
      log.warn({ process: opts.name, code, signal, crashes: crashes.length }, 'process exited');
      if (crashes.length > maxCrashes) {
        const reason = `${opts.name} exited ${crashes.length} times within ${Math.round(crashWindowMs / 1000)} s (last: ${signal ?? `code ${code}`}${firstError !== undefined ? `, first error: ${firstError}` : ''})`;
        log.error({ process: opts.name }, 'giving up on process');
        opts.onGiveUp?.(reason, [...recent]);
        return;
      }
      // Ref'd: a pending restart is work this process still has to do.
      restartTimer = setTimeout(launch, backoffMs);
      backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
    });
  };

  return {
    start: launch,
    pid: () => child?.pid,
    lastLines: () => [...recent],
    stop: async () => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), stopGraceMs);
      await closed;
      clearTimeout(kill);
      log.info({ process: opts.name }, 'process stopped');
    },
  };
}
