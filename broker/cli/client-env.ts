// What the client has: `skiff up` reads the Python the user computes with (--python PATH, else the first
// python3 on PATH that imports distributed) and turns it, with --packages/--requirements and the index flags,
// into the software request the broker checks and hashes.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SkiffError } from '../api/errors.js';
import { publicVersion } from '../api/versions.js';
import { formatRequirement, parsePackageList, parseRequirementsFile, type Requirement } from '../api/requirements.js';
import { DASK_COMPARED, maskUrl, type SoftwareMode, type SoftwareRequest } from '../api/software.js';

export type RunPython = (python: string, args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

const PROBE_TIMEOUT_MS = 30_000;

export const runPython: RunPython = (python, args) =>
  new Promise((resolve) => {
    execFile(python, args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof code === 'number' ? code : 127) : 0, stdout, stderr: err && typeof code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });

// Distribution versions (importlib.metadata: what pip sees), for the names given as arguments.
const PROBE = `
import importlib.metadata as md, json, sys
out = {"python": "%d.%d" % sys.version_info[:2], "executable": sys.executable, "versions": {}}
for name in sys.argv[1:]:
    try:
        out["versions"][name] = md.version(name)
    except md.PackageNotFoundError:
        pass
print(json.dumps(out))
`;

export interface ClientEnvironment {
  python: string;
  /** major.minor */
  minor: string;
  versions: Record<string, string>;
}

export async function readClientEnvironment(python: string, names: readonly string[], run: RunPython = runPython): Promise<ClientEnvironment> {
  const r = await run(python, ['-c', PROBE, ...names]);
  if (r.code !== 0) {
    throw new SkiffError('CLI_USAGE', `cannot read the environment of ${python} (exit ${r.code}): ${r.stderr.trim().split('\n').at(-1) ?? ''}; pass --python PATH of the Python you run Dask with`);
  }
  try {
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { python: string; versions: Record<string, string> };
    return { python, minor: j.python, versions: j.versions };
  } catch {
    throw new SkiffError('CLI_USAGE', `${python} printed no environment (is it a Python 3.8 or newer?)`);
  }
}

/** The first python3 on PATH whose `import distributed` works, with the ones tried before it. */
export async function findClientPython(path: string, run: RunPython = runPython): Promise<{ python?: string; tried: string[] }> {
  const tried: string[] = [];
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'python3');
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    if (tried.includes(candidate)) continue;
    tried.push(candidate);
    if ((await run(candidate, ['-c', 'import distributed'])).code === 0) return { python: candidate, tried };
  }
  return { tried };
}

export interface SoftwareFlags {
  software: string;
  python?: string;
  packages?: string;
  requirements?: string;
  pipIndexUrl?: string;
  pipExtraIndexUrl?: string;
}

/** Validates the flags, reads the client's Python and says what it found; the broker checks the result again. */
export async function softwareRequest(
  f: SoftwareFlags,
  o: { path: string; say: (line: string) => void; run?: RunPython; readFile?: (p: string) => string },
): Promise<SoftwareRequest> {
  const run = o.run ?? runPython;
  if (f.software !== 'client' && f.software !== 'system') throw new SkiffError('CLI_USAGE', `--software takes client or system; got "${f.software}"`);
  const mode: SoftwareMode = f.software;
  const user: Requirement[] = f.packages !== undefined ? parsePackageList(f.packages, 'CLI_USAGE') : [];
  let indexUrl = f.pipIndexUrl;
  const extraIndexUrls = (f.pipExtraIndexUrl ?? '').split(/\s+/).filter(Boolean);
  if (f.requirements !== undefined) {
    let text: string;
    try {
      text = (o.readFile ?? ((p) => readFileSync(p, 'utf8')))(f.requirements);
    } catch (err) {
      throw new SkiffError('CLI_USAGE', `cannot read --requirements ${f.requirements}: ${(err as Error).message}`);
    }
    const file = parseRequirementsFile(text, { file: f.requirements, code: 'CLI_USAGE' });
    user.push(...file.requirements);
    indexUrl ??= file.indexUrl;
    extraIndexUrls.push(...file.extraIndexUrls);
  }
  if (mode === 'system' && user.length > 0) throw new SkiffError('CLI_USAGE', '--packages and --requirements need --software client (the default): with --software system the machines run their own environment as it is');
  if (mode === 'system' && (indexUrl !== undefined || extraIndexUrls.length > 0)) throw new SkiffError('CLI_USAGE', '--pip-index-url and --pip-extra-index-url need --software client: with --software system nothing is installed');

  let python = f.python;
  if (python === undefined) {
    const found = await findClientPython(o.path, run);
    if (found.python === undefined) {
      if (mode === 'system') return { mode };
      const tried = found.tried.length > 0 ? found.tried.join(', ') : 'none on PATH';
      throw new SkiffError('CLI_USAGE', `no python3 on PATH imports distributed (tried: ${tried}); pass --python PATH of the Python you run your Dask client with, or --software system to run the machines' own Dask`);
    }
    python = found.python;
  }
  // Bare names the user gave are pinned to the client's version when the client has them.
  const bare = user.filter((u) => u.specifier === '' && u.url === undefined && u.marker === undefined).map((u) => u.name);
  const env = await readClientEnvironment(python, [...DASK_COMPARED, ...bare], run);
  const client: Record<string, string> = {};
  for (const name of DASK_COMPARED) if (env.versions[name] !== undefined) client[name] = env.versions[name];
  if (mode === 'client' && (client['distributed'] === undefined || client['dask'] === undefined)) {
    throw new SkiffError('CLI_USAGE', `${python} has no ${client['dask'] === undefined ? 'dask' : 'distributed'}: point --python at the Python you run your Dask client with, or use --software system`);
  }
  const shown = ['dask', 'distributed'].filter((n) => client[n]).map((n) => `${n} ${client[n]}`).join(', ');
  o.say(`client Python ${python}${f.python === undefined ? ' (the first python3 on PATH that imports distributed)' : ''}: Python ${env.minor}${shown ? `, ${shown}` : ''}`);
  const packages = user.map((u) => {
    const v = bare.includes(u.name) && u.specifier === '' ? env.versions[u.name] : undefined;
    if (v === undefined || client[u.name] !== undefined) return formatRequirement(u);
    o.say(`${u.name}: pinned to the client's ${v}`);
    return formatRequirement({ ...u, specifier: `==${publicVersion(v)}` });
  });
  if (indexUrl !== undefined) o.say(`package index ${maskUrl(indexUrl)}${extraIndexUrls.length > 0 ? ` (and ${extraIndexUrls.map(maskUrl).join(', ')})` : ''}`);
  for (const url of [indexUrl, ...extraIndexUrls]) {
    if (url === undefined || !/^http:\/\//i.test(url) || isLoopbackUrl(url)) continue;
    o.say(`warning: package index ${maskUrl(url)} is plain HTTP: packages${/@/.test(url) ? ' and its credentials' : ''} travel unencrypted, and pip is told to trust the host`);
  }
  return {
    mode, python: env.minor, pythonPath: python, client,
    ...(packages.length > 0 ? { packages } : {}),
    ...(indexUrl !== undefined ? { indexUrl } : {}), ...(extraIndexUrls.length > 0 ? { extraIndexUrls } : {}),
  };
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  } catch {
    return false;
  }
}
