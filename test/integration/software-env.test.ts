// Every machine runs the client's software environment: packages the user names reach the workers and the
// scheduler through a package index (a local PEP 503 one: PyPI is not reachable here), a version no index has
// fails the cluster naming it and leaves nothing, the same spec twice reuses the environment without asking the
// index again, and a client whose distributed differs from the machines' is refused or warned about.
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHome, DASK_PYTHON } from '../helpers/skiff.js';
import { DASK_IMPORT, type ImportProbe } from '../helpers/dask-import.js';
import { buildWheel, startPackageIndex } from '../helpers/package-index.js';
import { filesHolding } from '../helpers/secrets.js';
import { skiffPaths } from '../../broker/home.js';

interface UpJson {
  id: string;
  name: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
  warnings?: string[];
}
type Probe = ImportProbe;

const IMPORT = DASK_IMPORT;

function importOnCluster(up: UpJson, module: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    execFile(DASK_PYTHON, [IMPORT, up.scheduler, up.credentials.ca, up.credentials.cert, up.credentials.key, module], { timeout: 90_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Probe);
    });
  });
}

const work = mkdtempSync(join(tmpdir(), 'skiff-software-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const wheels = join(work, 'wheels');
buildWheel(wheels, { name: 'skiff-probe', version: '1.2.3', files: { 'skiff_probe/__init__.py': '__version__ = "1.2.3"\n' } });

t.test('a package named with --packages reaches every worker and the scheduler; the same spec again asks the index nothing', async (t) => {
  const index = await startPackageIndex(wheels);
  t.teardown(() => index.close());
  const h = makeHome();
  t.teardown(() => h.cleanup());

  const up = await h.run(['up', '--workers', '2', '--name', 'probe-a', '--packages', 'skiff-probe==1.2.3', '--pip-index-url', index.url, '--json'], { timeoutMs: 240_000 });
  t.equal(up.code, 0, `up succeeds: ${up.stderr}`);
  t.match(up.stderr, /client Python \/usr\/bin\/python3 \(the first python3 on PATH that imports distributed\): Python 3\.\d+, dask \S+, distributed \S+/, 'up says which Python it read');
  t.match(up.stderr, /software environment [0-9a-f]{12}: installing 7 packages on 3 machines \(.*skiff-probe==1\.2\.3.*\)/);
  t.match(up.stderr, /(scheduler|worker-\d): installing 1 of 7 packages \(6 from the system\): skiff-probe==1\.2\.3/, 'only the missing package is fetched');
  t.match(up.stderr, /: ready: installed 1 package in/);
  const a = JSON.parse(up.stdout) as UpJson;
  t.notOk(a.warnings, 'no version differs from the client\'s');

  const probe = await importOnCluster(a, 'skiff_probe');
  t.same(Object.keys(probe.workers).sort(), ['worker-1', 'worker-2']);
  for (const [name, w] of Object.entries(probe.workers)) {
    t.equal(w.version, '1.2.3', `${name} imports skiff_probe 1.2.3`);
    t.match(w.python, new RegExp(`^${h.home}/envs/[0-9a-f]{64}/bin/python`), `${name} runs in the environment`);
  }
  t.equal(probe.scheduler.version, '1.2.3', 'the scheduler imports it too (run_on_scheduler)');
  const files = index.requests().filter((p) => p.startsWith('/files/'));
  t.same(files, ['/files/skiff_probe-1.2.3-py3-none-any.whl'], 'the wheel was downloaded once: the three machines share this computer\'s environment');
  t.ok(execFileSync(DASK_PYTHON, ['-c', 'import importlib.util as u; print(u.find_spec("skiff_probe") is None)'], { encoding: 'utf8' }).includes('True'), 'the system Python is left as it was');

  const status = await h.run(['status', 'probe-a']);
  t.match(status.stdout, /software: [0-9a-f]{12}, Python 3\.\d+ \(read from \/usr\/bin\/python3\): .*skiff-probe==1\.2\.3.*; index http:\/\/127\.0\.0\.1:\d+\/…/);

  const before = index.requests().length;
  const again = await h.run(['up', '--workers', '2', '--name', 'probe-b', '--packages', 'skiff_Probe==1.2.3', '--pip-index-url', index.url, '--json'], { timeoutMs: 240_000 });
  t.equal(again.code, 0, `the second up succeeds: ${again.stderr}`);
  t.equal(index.requests().length, before, 'the second cluster made no index request');
  for (const m of ['scheduler', 'worker-1', 'worker-2']) t.match(again.stderr, new RegExp(`${m}: ready: reused environment [0-9a-f]{12}`), `${m} reused the environment`);
  const b = JSON.parse(again.stdout) as UpJson;
  t.equal((await importOnCluster(b, 'skiff_probe')).workers['worker-1']?.version, '1.2.3', 'and it works');
  t.equal(readdirSync(join(h.home, 'envs')).filter((d) => !d.endsWith('.lock')).length, 1, 'one environment for both clusters');
});

t.test('a version the index does not have fails the cluster naming it and the index\'s answer, leaving no process', async (t) => {
  const index = await startPackageIndex(wheels);
  t.teardown(() => index.close());
  const h = makeHome();
  t.teardown(() => h.cleanup());
  // The index, with credentials, from the environment: not on up's command line.
  h.env['SKIFF_PIP_INDEX_URL'] = index.url.replace('://', '://ci:s3cret-index-token@');
  const up = await h.run(['up', '--workers', '2', '--name', 'nine', '--packages', 'skiff-probe==9.9.9'], { timeoutMs: 240_000 });
  t.notOk(up.stderr.includes('s3cret-index-token') || up.stdout.includes('s3cret-index-token'), 'up never prints the index credentials');
  t.equal(up.code, 1, 'up fails');
  t.match(up.stderr, /cluster nine failed: (scheduler|worker-\d): software environment [0-9a-f]{12}: could not install skiff-probe==9\.9\.9: ERROR: Could not find a version that satisfies the requirement skiff-probe==9\.9\.9 \(from versions: 1\.2\.3\); its machines were stopped/);
  t.match(up.stderr, /\n {2}ERROR: No matching distribution found for skiff-probe==9\.9\.9/, 'pip\'s last lines follow');
  t.ok(index.requests().includes('/simple/skiff-probe/'), 'pip asked the local index');
  const statusRun = await h.run(['status', 'nine', '--json']);
  t.notOk(statusRun.stdout.includes('s3cret-index-token'), 'status shows the index by scheme and host only');
  const status = JSON.parse(statusRun.stdout) as { state: string; reason: string; software?: { indexUrl?: string } };
  t.match(status, { state: 'failed', reason: /skiff-probe==9\.9\.9/, software: { indexUrl: /^http:\/\/127\.0\.0\.1:\d+\/…$/ } });
  const paths = skiffPaths(h.home);
  t.same([...filesHolding(paths.logsDir, ['s3cret-index-token']), ...filesHolding(paths.brokerDir, ['s3cret-index-token']).filter((f) => f === paths.brokerLog)], [], 'no machine log line and no broker log line holds it');
  const broker = h.brokerPid();
  t.same(h.processes().filter((p) => p.pid !== broker), [], 'no agent, pip or Dask process is left');
  t.same(existsSync(join(h.home, 'envs')) ? readdirSync(join(h.home, 'envs')) : [], [], 'no half-built environment or lock is left');
});

t.test('a client whose distributed the machines cannot get: refused with its version, or run with --software system and warned about', async (t) => {
  const index = await startPackageIndex(wheels);
  t.teardown(() => index.close());
  const h = makeHome();
  t.teardown(() => h.cleanup());
  // The client: Debian's Python in a venv where a distributed 2022.12.9 (which exists nowhere else) shadows Debian's.
  const client = join(work, 'client-venv');
  execFileSync(DASK_PYTHON, ['-m', 'venv', '--system-site-packages', '--without-pip', client]);
  const fake = buildWheel(join(work, 'client-wheels'), { name: 'distributed', version: '2022.12.9', files: { 'distributed/__init__.py': '__version__ = "2022.12.9"\n' } });
  execFileSync(join(client, 'bin/python'), ['-m', 'pip', 'install', '--no-index', '--no-deps', '--quiet', fake], { env: { ...process.env, PIP_CONFIG_FILE: '/dev/null' } });
  const python = join(client, 'bin/python');

  const pinned = await h.run(['up', '--workers', '1', '--name', 'mixed', '--python', python, '--pip-index-url', index.url], { timeoutMs: 240_000 });
  t.equal(pinned.code, 1, 'up fails');
  t.match(pinned.stderr, new RegExp(`client Python ${python}: Python 3\\.\\d+, dask \\S+, distributed 2022\\.12\\.9`));
  t.match(pinned.stderr, /cluster mixed failed: .*could not install distributed==2022\.12\.9: ERROR: Could not find a version that satisfies the requirement distributed==2022\.12\.9 \(from versions: none\)/);

  const system = await h.run(['up', '--workers', '1', '--name', 'mixed-system', '--python', python, '--software', 'system', '--json'], { timeoutMs: 240_000 });
  t.equal(system.code, 0, `with --software system it runs: ${system.stderr}`);
  const warning = /version mismatch: distributed: the client has 2022\.12\.9; scheduler, worker-1 have 2022\.12\.1\S*/;
  t.match(system.stderr, new RegExp(`skiff: warning: ${warning.source}`), 'up warns');
  t.match((JSON.parse(system.stdout) as UpJson).warnings, [warning]);
  const status = await h.run(['status', 'mixed-system']);
  t.match(status.stdout, new RegExp(`warning: ${warning.source}`), 'status warns');
  t.match(status.stdout, /software: the machines' own environment \(--software system\); client \(read from .*\): .*distributed 2022\.12\.9/);
  const notes = await h.run(['notifications', 'mixed-system']);
  t.match(notes.stdout, new RegExp(`mixed-system {2}ALERT {2}${warning.source}`), 'and a notification records it');
});

t.test('what cannot be reproduced on a machine is refused before anything is created', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const req = join(h.home, 'requirements.txt');
  writeFileSync(req, 'numpy==1.26.4  # fine\n-e ./mypkg\n');
  const cases: Array<[string[], RegExp]> = [
    [['--requirements', req], /requirements\.txt line 2 \("-e \.\/mypkg"\): is an editable install, which cannot be reproduced on a cluster machine/],
    [['--packages', './mypkg'], /--packages "\.\/mypkg": is a local path, which cannot be reproduced/],
    [['--packages', 'probe @ file:///tmp/probe.whl'.replaceAll(' ', '')], /probe@file:\/\/\/tmp\/probe\.whl.*(local path|local file)/],
    [['--packages', 'skiff-probe==1.2.3', '--software', 'system'], /--packages and --requirements need --software client/],
    [['--python', '/bin/false'], /cannot read the environment of \/bin\/false/],
  ];
  for (const [args, message] of cases) {
    const r = await h.run(['up', '--workers', '0', ...args]);
    t.equal(r.code, 2, `${args.join(' ')} is a usage error`);
    t.match(r.stderr, message);
  }
  t.equal(h.brokerPid(), undefined, 'no broker was even started');
});
