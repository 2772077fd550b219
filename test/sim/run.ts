// Running a command to completion with a deadline, for both sides of the simulator. Errors name the command,
// its exit and the tail of its stderr, so a failed `ip` or `nft` call explains itself.

import { execFile, execFileSync } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default 30 s. */
  timeoutMs?: number;
  input?: string;
}

/** Runs to completion; never throws for a non-zero exit (the code says it). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      [...args],
      { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const e = err as { code?: unknown; killed?: boolean; signal?: unknown };
          code = typeof e.code === 'number' ? e.code : 1;
          if (e.killed) stderr += `\n(killed after ${opts.timeoutMs ?? 30_000} ms)`;
          else if (typeof e.code === 'string') stderr += `\n(${e.code}: ${err.message})`;
        }
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

function describe(cmd: string, args: readonly string[], r: RunResult): string {
  return `${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim().slice(-600) || r.stdout.trim().slice(-600)}`;
}

/** Runs and throws unless it exits 0. Returns stdout. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(describe(cmd, args, r));
  return r.stdout;
}

/** Synchronous variant for exit handlers (where nothing asynchronous runs any more). Never throws. */
export function runSync(cmd: string, args: readonly string[], timeoutMs = 10_000): RunResult {
  try {
    const stdout = execFileSync(cmd, [...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}
