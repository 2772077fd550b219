// The command lines that build a software environment, with uv when the machine has it (much faster) and with
// the standard library's venv and pip otherwise. Pure: what to run, not running it.
//
//   pip:  <python> -m venv --system-site-packages --without-pip DIR     (the system's pip serves the venv;
//         DIR/bin/python -m ensurepip when the system has none)
//         DIR/bin/python -m pip install -r DIR/skiff-requirements.txt     (PIP_INDEX_URL=... in its environment)
//   uv:   uv venv --system-site-packages --python <python or X.Y> DIR   (X.Y: uv fetches that Python itself)
//         uv pip install --python DIR/bin/python -r DIR/skiff-requirements.txt  (UV_INDEX_URL=...)
//
// Index URLs and requirements may carry credentials (https://user:token@mirror/simple, pkg @ https://…), and a
// command line is readable by every user of the machine (/proc/PID/cmdline): so they go to pip and uv through
// their environment (/proc/PID/environ is the owner's only) and a 0600 requirements file, never as arguments.
//
// System site packages: a package the machine already has at exactly the pinned version is used as it is,
// so a machine fetches only what is missing.
import { join } from 'node:path';
import { maskUrl } from '../../broker/api/software.js';

export type Installer = { kind: 'pip' } | { kind: 'uv'; uv: string };

export interface Command {
  cmd: string;
  args: string[];
  /** Added to the command's environment: where secrets for it go (never into args). */
  env?: Record<string, string>;
  /** Shown in logs and progress: the command as a person would type it, index URLs left out. */
  name: string;
  timeoutMs: number;
}

export interface IndexOptions {
  indexUrl?: string;
  extraIndexUrls?: string[];
}

const MINUTE = 60_000;

export const envPython = (dir: string): string => join(dir, 'bin', 'python');

/**
 * Hosts of the plain-HTTP indexes the user named. pip ignores such an index ("not a trusted or secure host") unless
 * told to trust the host; the user chose the URL (a mirror inside the VPC often has no TLS), so pip is told. (uv
 * takes plain HTTP as it is: its --allow-insecure-host is about skipping certificate checks, which skiff never asks
 * for.) The CLI warns that packages from such an index travel unencrypted.
 */
export function plainHttpHosts(o: IndexOptions): string[] {
  const hosts = new Set<string>();
  for (const url of [o.indexUrl, ...(o.extraIndexUrls ?? [])]) {
    if (url === undefined || !/^http:\/\//i.test(url)) continue;
    try {
      hosts.add(new URL(url).hostname.replace(/^\[(.*)\]$/, '$1'));
    } catch {
      // Checked by the broker before it was stored; an unparsable one gives pip nothing to trust.
    }
  }
  return [...hosts];
}

/**
 * The indexes as the installer's own variables. pip and uv read a space-separated list for the extra indexes (URLs
 * never hold whitespace: the broker checked them); pip's trusted hosts likewise.
 */
function indexEnv(installer: Installer, o: IndexOptions): Record<string, string> {
  const extra = o.extraIndexUrls ?? [];
  const prefix = installer.kind === 'uv' ? 'UV' : 'PIP';
  const trusted = installer.kind === 'pip' ? plainHttpHosts(o) : [];
  return {
    ...(o.indexUrl !== undefined ? { [`${prefix}_INDEX_URL`]: o.indexUrl } : {}),
    ...(extra.length > 0 ? { [`${prefix}_EXTRA_INDEX_URL`]: extra.join(' ') } : {}),
    ...(trusted.length > 0 ? { PIP_TRUSTED_HOST: trusted.join(' ') } : {}),
  };
}

/** Where the packages of an environment are written for its installer (0600, inside the environment). */
export const requirementsFile = (dir: string): string => join(dir, 'skiff-requirements.txt');

/** `python` is the machine's interpreter, or with uv a major.minor it has to fetch (the machine's differs). */
export function createCommand(installer: Installer, python: string, dir: string): Command {
  switch (installer.kind) {
    case 'uv':
      return { cmd: installer.uv, args: ['venv', '--system-site-packages', '--python', python, dir], name: `uv venv --python ${python}`, timeoutMs: 10 * MINUTE };
    case 'pip':
      return { cmd: python, args: ['-m', 'venv', '--system-site-packages', '--without-pip', dir], name: `${python} -m venv --system-site-packages`, timeoutMs: 5 * MINUTE };
  }
}

export function ensurePipCommand(dir: string): Command {
  return { cmd: envPython(dir), args: ['-m', 'ensurepip', '--default-pip'], name: 'python -m ensurepip', timeoutMs: 5 * MINUTE };
}

/** Installs the packages written to requirementsFile(dir); `packages` only names them (masked) in logs. */
export function installCommand(installer: Installer, dir: string, packages: readonly string[], index: IndexOptions): Command {
  const env = indexEnv(installer, index);
  const shown = packages.map(maskUrl).join(' ');
  switch (installer.kind) {
    case 'uv':
      return {
        cmd: installer.uv, args: ['pip', 'install', '--python', envPython(dir), '-r', requirementsFile(dir)], env,
        name: `uv pip install ${shown}`, timeoutMs: 30 * MINUTE,
      };
    case 'pip':
      return {
        cmd: envPython(dir), args: ['-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '--no-color', '--progress-bar', 'off', '-r', requirementsFile(dir)], env,
        name: `pip install ${shown}`, timeoutMs: 30 * MINUTE,
      };
  }
}

/** pip's (or uv's) environment: never a prompt, no warning about running as root on a VM. */
export const INSTALL_ENV: Readonly<Record<string, string>> = { PIP_NO_INPUT: '1', PIP_ROOT_USER_ACTION: 'ignore', PIP_DISABLE_PIP_VERSION_CHECK: '1' };

/**
 * The package pip or uv could not install, and the line that says why, from its output:
 *   pip: "ERROR: Could not find a version that satisfies the requirement skiff-probe==9.9.9 (from versions: 1.2.3)"
 *   uv:  "× No solution found when resolving dependencies: ╰─▶ Because skiff-probe was not found ..."
 */
export function installFailure(output: string): { requirement?: string; line: string } {
  const lines = output.split('\n').map((l) => stripAnsi(l).trim()).filter(Boolean);
  const req = /(?:satisfies the requirement|No matching distribution found for|Because) (\S+?)(?: |$)/.exec(output)?.[1];
  // The first error line: pip's names what the index has ("from versions: 1.2.3").
  const line = lines.find((l) => /^(ERROR:|error:|×)/.test(l)) ?? lines.at(-1) ?? '(no output)';
  return { ...(req !== undefined ? { requirement: req } : {}), line };
}

/** Terminal colours and other escape sequences an installer may print even without a terminal. */
export function stripAnsi(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}
