// On a fresh VM: make sure a Python with Dask's `distributed` is there, installing it the way the image's
// family does when it is missing (a GPU image already has its drivers), and say which interpreter to run
// Dask with. Every step is logged with the last lines it printed, so a machine that cannot get Dask shows
// up as a failed cluster with these lines, not one that hangs.
//
//   apt (debian, ubuntu): apt-get update, apt-get install python3-distributed   → the configured python3
//   dnf (amzn 2023, fedora, rhel): its python3 is 3.9, too old for today's Dask:
//        dnf install python3.11 python3.11-pip, python3.11 -m pip install dask distributed → python3.11
//
// Both apt steps wait up to 5 min for the dpkg lock: cloud-init or unattended-upgrades may hold it at boot.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import { SkiffError } from '../broker/api/errors.js';
import { packageFamily, parseOsRelease, readOsRelease, SUPPORTED_FAMILIES, type PackageFamily } from './os-family.js';

/** `env` is added to the environment the Exec was made with (what the one command needs: never its arguments). */
export type Exec = (cmd: string, args: string[], timeoutMs: number, env?: Readonly<Record<string, string>>) => Promise<{ code: number; output: string }>;

/** Runs a command to completion (never rejects): its exit code and what it printed, stdout then stderr. */
export function createExec(env: NodeJS.ProcessEnv = process.env): Exec {
  return (cmd, args, timeoutMs, extra) =>
    new Promise((resolve) => {
      execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024, env: { ...env, ...extra, DEBIAN_FRONTEND: 'noninteractive' } }, (err, stdout, stderr) => {
        const exitCode = (err as { code?: unknown } | null)?.code;
        // No exit code: it could not start (ENOENT) or was killed at the timeout; say so in the output.
        const why = err && typeof exitCode !== 'number' ? `${err.message}\n` : '';
        resolve({ code: err ? (typeof exitCode === 'number' ? exitCode : 1) : 0, output: `${stdout}${stderr}${why}` });
      });
    });
}

export const defaultExec: Exec = createExec();

/** The absolute path of a command on PATH, as a shell would find it. */
export function whichOnPath(name: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface EnsureDaskOptions {
  /** The configured interpreter (SKIFF_PYTHON, default /usr/bin/python3): used when it has Dask or on apt. */
  python: string;
  log: Logger;
  /** Environment of the commands run (default: this process's). */
  env?: NodeJS.ProcessEnv;
  exec?: Exec;
  /** Contents of os-release (default: /etc/os-release, else /usr/lib/os-release). */
  osRelease?: () => string;
}

interface Step {
  /** Short name, in the logs and in the error: the command as a person would type it. */
  name: string;
  cmd: string;
  args: string[];
  timeoutMs: number;
}

const MINUTE = 60_000;
const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=300'];
const DNF_PYTHON = 'python3.11';
const LOG_LINES = 10;

function stepsFor(family: PackageFamily, dnfPython: string): Step[] {
  switch (family) {
    case 'apt':
      return [
        { name: 'apt-get update -q', cmd: 'apt-get', args: ['update', '-q', ...LOCK_WAIT], timeoutMs: 15 * MINUTE },
        {
          name: 'apt-get install python3-distributed',
          cmd: 'apt-get',
          args: ['install', '-y', '-q', '--no-install-recommends', ...LOCK_WAIT, 'python3-distributed'],
          timeoutMs: 20 * MINUTE,
        },
      ];
    case 'dnf':
      return [
        { name: `dnf install ${DNF_PYTHON} ${DNF_PYTHON}-pip`, cmd: 'dnf', args: ['install', '-y', DNF_PYTHON, `${DNF_PYTHON}-pip`], timeoutMs: 20 * MINUTE },
        {
          name: `${DNF_PYTHON} -m pip install dask distributed`,
          cmd: dnfPython,
          args: ['-m', 'pip', 'install', '--no-input', '--progress-bar', 'off', '--root-user-action=ignore', 'dask', 'distributed'],
          timeoutMs: 20 * MINUTE,
        },
      ];
  }
}

/** The line that says what went wrong: apt's `E:`, dnf's `Error:`, pip's `ERROR:`, else the last one. */
function errorLine(lines: string[]): string {
  return [...lines].reverse().find((l) => /^(E:|Error:|ERROR:)/.test(l)) ?? lines.at(-1) ?? '(no output)';
}

/** Makes sure Dask's `distributed` imports, installing it when missing; resolves to the Python to run Dask with. */
export async function ensureDask(o: EnsureDaskOptions): Promise<string> {
  const env = o.env ?? process.env;
  const exec = o.exec ?? createExec(env);
  const log = o.log.child({ component: 'prepare' });
  const probe = async (python: string): Promise<string | undefined> => {
    const r = await exec(python, ['-c', 'import distributed; print(distributed.__version__)'], MINUTE);
    return r.code === 0 ? r.output.trim() : undefined;
  };

  let version = await probe(o.python);
  if (version !== undefined) {
    log.info({ python: o.python, version }, 'dask present');
    return o.python;
  }
  const os = parseOsRelease((o.osRelease ?? readOsRelease)());
  const family = packageFamily(os);
  if (!family) {
    const like = os.idLike.length > 0 ? os.idLike.join(' ') : 'none';
    throw new SkiffError(
      'AGT_PROCESS_FAILED',
      `cannot install Dask on ${os.prettyName ?? 'this machine'}: os-release says ID=${os.id || '(none)'}, ID_LIKE=${like}; skiff installs it on ${SUPPORTED_FAMILIES}. Use such an image, or one whose ${o.python} already has Dask's distributed`,
    );
  }
  let python = o.python;
  if (family === 'dnf') {
    // A restarted agent finds what its first run installed.
    const installed = whichOnPath(DNF_PYTHON, env['PATH']);
    if (installed !== undefined && (version = await probe(installed)) !== undefined) {
      log.info({ python: installed, version }, 'dask present');
      return installed;
    }
    python = installed ?? DNF_PYTHON;
  }
  log.info({ os: os.prettyName ?? os.id, family, python }, 'installing dask');
  for (const step of stepsFor(family, python)) {
    log.info({ step: step.name }, 'prepare step started');
    const startedAt = Date.now();
    const r = await exec(step.cmd, step.args, step.timeoutMs);
    const lines = r.output.split('\n').map((l) => l.trimEnd()).filter(Boolean);
    const fields = { step: step.name, exitCode: r.code, durationMs: Date.now() - startedAt, lastLines: lines.slice(-LOG_LINES) };
    if (r.code !== 0) {
      log.error(fields, 'prepare step failed');
      throw new SkiffError('AGT_PROCESS_FAILED', `${step.name} failed (exit ${r.code}): ${errorLine(lines)}`);
    }
    log.info(fields, 'prepare step finished');
    if (family === 'dnf' && step.cmd === 'dnf') python = whichOnPath(DNF_PYTHON, env['PATH']) ?? python;
  }
  version = await probe(python);
  if (version === undefined) {
    const r = await exec(python, ['-c', 'import distributed'], MINUTE);
    throw new SkiffError('AGT_PROCESS_FAILED', `${python} still cannot import distributed after installing it: ${r.output.trim().slice(-300)}`);
  }
  log.info({ python, version }, 'dask installed');
  return python;
}
