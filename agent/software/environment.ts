// Before Dask starts: the cluster's software environment, a virtual environment per spec hash under the
// agent's directory. Built once per machine (a second cluster with the same spec reuses it without asking any
// index), with only what the system does not already have at exactly the pinned version fetched.
//
//   envs/<hash>/               the venv; complete once envs/<hash>/skiff-env.json exists
//   envs/<hash>.lock           held by the one process building it
//
//   reuse? ── yes ──► ready
//     │ no
//   lock ─► create venv (uv or venv) ─► which pins are missing? (a probe in the venv) ─► install those ─► marker
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SkiffError } from '../../broker/api/errors.js';
import { maskUrl, type MachineSoftware } from '../../broker/api/software.js';
import { samePythonMinor } from '../../broker/api/versions.js';
import type { Exec } from '../prepare.js';
import { acquireLock } from './env-lock.js';
import { createCommand, ensurePipCommand, envPython, installCommand, installFailure, requirementsFile, stripAnsi, type Command, type Installer } from './installer.js';

export const MARKER = 'skiff-env.json';
const LAST_LINES = 20;

/** A build that failed: the reason names the package, the lines are the installer's last ones. */
export class EnvironmentError extends SkiffError {
  readonly lastLines: string[];
  constructor(message: string, lastLines: string[]) {
    super('AGT_PROCESS_FAILED', message);
    this.lastLines = lastLines;
  }
}

// Which requirements the venv does not yet satisfy (pip's own packaging judges specifiers and markers).
const MISSING_PROBE = `
import importlib.metadata as md, json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    reqs = [line for line in f.read().splitlines() if line]
try:
    from pip._vendor.packaging.requirements import Requirement
except Exception:
    try:
        from packaging.requirements import Requirement
    except Exception:
        print(json.dumps({"missing": reqs})); sys.exit(0)
missing = []
for text in reqs:
    r = Requirement(text)
    if r.marker is not None and not r.marker.evaluate():
        continue
    try:
        v = md.version(r.name)
    except md.PackageNotFoundError:
        missing.append(text); continue
    if r.url or r.extras or not r.specifier.contains(v, prereleases=True):
        missing.append(text)
print(json.dumps({"missing": missing}))
`;

export interface EnvironmentOptions {
  software: MachineSoftware;
  /** Where environments live (one per hash), shared by every cluster on this machine. */
  envsDir: string;
  /** The machine's Python (the venv's base). */
  python: string;
  /** uv's path when the machine has it. */
  uv?: string;
  exec: Exec;
  log: Logger;
  /** Each step, for `skiff up` ("installing 1 of 7 packages ..."). */
  progress: (detail: string) => void;
  now?: () => number;
  /**
   * Given, while this process builds, what undoes a half-built environment (its directory and the lock): the
   * agent calls it when it is stopped mid-build, so a stopped cluster leaves nothing half-made. Then undefined.
   */
  onAbortable?: (undo: (() => void) | undefined) => void;
}

const lines = (output: string): string[] => output.split('\n').map((l) => maskUrl(stripAnsi(l).trimEnd())).filter(Boolean);

/** Resolves to the environment's python, building the environment unless it is there already. */
export async function prepareEnvironment(o: EnvironmentOptions): Promise<string> {
  const now = o.now ?? Date.now;
  const log = o.log.child({ component: 'software' });
  const s = o.software;
  const short = s.hash.slice(0, 12);
  const dir = join(o.envsDir, s.hash);
  const ready = () => existsSync(join(dir, MARKER));
  if (ready()) {
    log.info({ hash: s.hash, dir }, 'software environment reused');
    o.progress(`ready: reused environment ${short}`);
    return envPython(dir);
  }
  mkdirSync(o.envsDir, { recursive: true, mode: 0o700 });
  const release = await acquireLock(`${dir}.lock`, { onWait: (pid) => o.progress(`waiting for pid ${pid}, which builds environment ${short}`) });
  o.onAbortable?.(() => {
    if (!ready()) rmSync(dir, { recursive: true, force: true });
    release();
  });
  try {
    if (ready()) {
      o.progress(`ready: reused environment ${short} (built meanwhile)`);
      return envPython(dir);
    }
    return await build(o, dir, short, log, now);
  } finally {
    o.onAbortable?.(undefined);
    release();
  }
}

async function build(o: EnvironmentOptions, dir: string, short: string, log: Logger, now: () => number): Promise<string> {
  const s = o.software;
  const started = now();
  const run = async (c: Command): Promise<string> => {
    const t0 = now();
    const r = await o.exec(c.cmd, c.args, c.timeoutMs, c.env);
    const out = lines(r.output);
    log.info({ step: c.name, exitCode: r.code, durationMs: now() - t0, lastLines: out.slice(-5) }, 'software step finished');
    if (r.code !== 0) {
      const f = installFailure(r.output);
      const what = f.requirement !== undefined ? `could not install ${f.requirement}` : `${c.name} failed (exit ${r.code})`;
      throw new EnvironmentError(`software environment ${short}: ${what}: ${maskUrl(f.line)}`, out.slice(-LAST_LINES));
    }
    return r.output;
  };
  // A directory without the marker is what a killed build left: start again.
  rmSync(dir, { recursive: true, force: true });
  try {
    const installer: Installer = o.uv !== undefined ? { kind: 'uv', uv: o.uv } : { kind: 'pip' };
    const base = lines(await run({ cmd: o.python, args: ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], name: `${o.python} --version`, timeoutMs: 60_000 })).at(-1) ?? '';
    let python = o.python;
    if (s.python !== undefined && !samePythonMinor(s.python, base)) {
      if (installer.kind !== 'uv') {
        throw new EnvironmentError(
          `this machine's Python is ${base} (${o.python}) and the client's ${s.python}: run the client with Python ${base}, use an image with uv (skiff then installs Python ${s.python} with it) or one with Python ${s.python} (SKIFF_PYTHON), or --software system`,
          [],
        );
      }
      python = s.python; // uv fetches it
    }
    o.progress(`creating environment ${short} with ${installer.kind === 'uv' ? 'uv' : 'venv and pip'}`);
    await run(createCommand(installer, python, dir));
    if (installer.kind === 'pip' && (await o.exec(envPython(dir), ['-m', 'pip', '--version'], 60_000)).code !== 0) await run(ensurePipCommand(dir));
    // The requirements go to the probe and the installer in a file of this user's only: a `pkg @ https://user:token@…`
    // would be readable by anyone in an argument list.
    writeFileSync(requirementsFile(dir), s.packages.map((p) => `${p}\n`).join(''), { mode: 0o600 });
    const probe = await o.exec(envPython(dir), ['-c', MISSING_PROBE, requirementsFile(dir)], 60_000);
    let missing = s.packages;
    try {
      if (probe.code === 0) missing = (JSON.parse(probe.output.trim().split('\n').at(-1) ?? '') as { missing: string[] }).missing;
    } catch {
      // then every pin goes to the installer, which knows best
    }
    const fromSystem = s.packages.length - missing.length;
    if (missing.length > 0) {
      o.progress(`installing ${missing.length} of ${s.packages.length} packages (${fromSystem} from the system): ${missing.map(maskUrl).join(' ')}`);
      // Every pin goes to the installer, so it resolves them together; those already satisfied cost no download.
      await run(installCommand(installer, dir, s.packages, { ...(s.indexUrl !== undefined ? { indexUrl: s.indexUrl } : {}), ...(s.extraIndexUrls ? { extraIndexUrls: s.extraIndexUrls } : {}) }));
    }
    const durationMs = now() - started;
    // venv copies its activate scripts with the system's 0644: the environment is this user's only, as all else.
    makeTreePrivate(dir);
    writeFileSync(join(dir, MARKER), JSON.stringify({ hash: s.hash, python: s.python ?? base, packages: s.packages, installed: missing, builtAt: new Date().toISOString(), durationMs }, null, 2));
    log.info({ hash: s.hash, dir, installed: missing.length, fromSystem, durationMs }, 'software environment built');
    o.progress(missing.length > 0
      ? `ready: installed ${missing.length} package${missing.length === 1 ? '' : 's'} in ${(durationMs / 1000).toFixed(1)}s (${fromSystem} from the system)`
      : `ready: all ${s.packages.length} packages from the system (${(durationMs / 1000).toFixed(1)}s)`);
    return envPython(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Strips group and other bits from every file and folder under `dir` (links are left: their mode is not theirs). */
function makeTreePrivate(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isSymbolicLink()) continue;
    if ((st.mode & 0o077) !== 0) chmodSync(path, st.mode & 0o700);
    if (st.isDirectory()) makeTreePrivate(path);
  }
}
