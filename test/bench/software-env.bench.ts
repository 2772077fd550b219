// Environment preparation per machine, as the agent does it before Dask starts (prepareEnvironment with the real
// venv and pip on Debian's Python, packages from a local PEP 503 index on 127.0.0.1):
//  - cold (no environment yet) with 1 and with 20 user packages, on top of the client's pins the system already has;
//  - warm (a second cluster with the same spec on the same machine: reuse, no index request);
//  - baseline: the floor every cold build pays before installing anything, a bare `python -m venv
//    --system-site-packages --without-pip` plus the missing-package probe's interpreter start, timed alone.
// The wheels are tiny, so the figures are the installer's own cost per build and per package, not download time.
// uv is compared with pip when this machine has uv on PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildSoftwareSpec, DASK_COMPARED } from '../../broker/api/software.js';
import { prepareEnvironment } from '../../agent/software/environment.js';
import { INSTALL_ENV } from '../../agent/software/installer.js';
import { createExec } from '../../agent/prepare.js';
import { buildWheel, startPackageIndex } from '../helpers/package-index.js';
import { DASK_PYTHON } from '../helpers/skiff.js';
import { sized } from './mode.js';

const RUNS = sized(3, 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const work = mkdtempSync(join(tmpdir(), 'skiff-bench-env-'));
const wheels = join(work, 'wheels');
const names = Array.from({ length: 20 }, (_, i) => `skiff-bench-${String(i + 1).padStart(2, '0')}`);
for (const name of names) buildWheel(wheels, { name, version: '1.0.0', files: { [`${name.replaceAll('-', '_')}/__init__.py`]: '__version__ = "1.0.0"\n' } });
const index = await startPackageIndex(wheels);

// The client's pins, as `skiff up` reads them from the client's Python (here the same Debian Python).
const versions = JSON.parse(execFileSync(DASK_PYTHON, ['-c', `import importlib.metadata as m, json, sys
out = {}
for n in sys.argv[1:]:
    try: out[n] = m.version(n)
    except m.PackageNotFoundError: pass
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "client": out}))`, ...DASK_COMPARED], { encoding: 'utf8' })) as { python: string; client: Record<string, string> };

const log = pino({ level: 'silent' });
const exec = createExec({ ...process.env, ...INSTALL_ENV, PIP_CONFIG_FILE: '/dev/null' });
const uv = spawnSync('sh', ['-c', 'command -v uv'], { encoding: 'utf8' }).stdout.trim() || undefined;

async function prepare(envsDir: string, packages: string[], withUv: string | undefined): Promise<number> {
  const spec = buildSoftwareSpec({ mode: 'client', python: versions.python, client: versions.client, packages, indexUrl: index.url });
  const t0 = performance.now();
  await prepareEnvironment({
    software: { mode: 'client', hash: spec.hash, python: versions.python, packages: spec.packages, ...(spec.indexUrl !== undefined ? { indexUrl: spec.indexUrl } : {}) },
    envsDir, python: DASK_PYTHON, ...(withUv !== undefined ? { uv: withUv } : {}), exec, log, progress: () => undefined,
  });
  return performance.now() - t0;
}

function floorMs(): number {
  const dir = mkdtempSync(join(work, 'floor-'));
  const t0 = performance.now();
  execFileSync(DASK_PYTHON, ['-m', 'venv', '--system-site-packages', '--without-pip', join(dir, 'env')]);
  execFileSync(join(dir, 'env/bin/python'), ['-c', 'import importlib.metadata']);
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

try {
  const floor = median(Array.from({ length: RUNS }, floorMs));
  const installers: Array<[string, string | undefined]> = [['pip', undefined], ...(uv !== undefined ? [['uv', uv] as [string, string]] : [])];
  for (const [label, withUv] of installers) {
    for (const count of [1, 20]) {
      const packages = names.slice(0, count).map((n) => `${n}==1.0.0`);
      const cold: number[] = [];
      const warm: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const envsDir = mkdtempSync(join(work, 'envs-'));
        const before = index.requests().length;
        cold.push(await prepare(envsDir, packages, withUv));
        const fetched = index.requests().length - before;
        const mid = index.requests().length;
        warm.push(await prepare(envsDir, packages, withUv));
        if (index.requests().length !== mid) throw new Error('the warm preparation asked the index');
        if (fetched === 0) throw new Error('the cold preparation never asked the index');
        rmSync(envsDir, { recursive: true, force: true });
      }
      const c = median(cold);
      const w = median(warm);
      process.stdout.write(
        `environment, ${label}, ${count} package${count === 1 ? '' : 's'} (+${Object.keys(versions.client).length} client pins from the system): ` +
          `cold ${s(c)} (${(c / floor).toFixed(1)}x the bare-venv floor of ${s(floor)}), warm ${w.toFixed(1)} ms (${(c / w).toFixed(0)}x faster than cold)\n`,
      );
    }
  }
  if (uv === undefined) process.stdout.write('uv: not on this machine (Debian 12 does not package it and PyPI is not reachable here); pip only\n');
} finally {
  await index.close();
  rmSync(work, { recursive: true, force: true });
}
