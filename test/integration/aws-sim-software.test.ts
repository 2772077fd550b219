// The software environment on aws, through the EC2 machine simulator: a package the user names with --packages
// reaches the scheduler VM and both worker VMs from a package index on the simulated internet (a PEP 503 index in
// the simulator's outer namespace, where a user's private mirror would be), each VM building its own environment.
// The index URL carries a credential: it reaches the machines only in the enrolment answer, never the user-data,
// the broker's log or `status`.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startEc2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff } from '../helpers/sim-skiff.js';
import { spawnSimHelper } from '../helpers/sim-helper-process.js';
import { DASK_IMPORT, type ImportProbe } from '../helpers/dask-import.js';
import { buildWheel } from '../helpers/package-index.js';
import { DASK_PYTHON } from '../helpers/skiff.js';

interface UpJson {
  id: string;
  name: string;
  state: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
  warnings?: string[];
}
type Probe = ImportProbe;

const IMPORT = DASK_IMPORT;
const SECRET = 'mirror-tok3n-5f1c';

t.test('--packages on aws: the package reaches every VM through the index on the simulated internet', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'skiff-sim-software-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const wheels = join(work, 'wheels');
  buildWheel(wheels, { name: 'skiff-probe', version: '1.2.3', files: { 'skiff_probe/__init__.py': '__version__ = "1.2.3"\n' } });

  const sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000' } });
  const s = await startSimSkiff(sim).catch(async (err: unknown) => {
    await sim.stop();
    throw err;
  });
  t.teardown(async () => {
    await s.stop();
    await sim.stop();
  });
  const index = await spawnSimHelper<{ url: string }, string>(sim, 'package-index-main.ts', ['--wheels', wheels, '--host', sim.internetIp, '--port', '0']);
  t.teardown(() => index.stop());
  t.match(index.ready.url, new RegExp(`^http://${sim.internetIp.replaceAll('.', '\\.')}:\\d+/simple$`), 'the index listens on the simulated internet');
  // A private mirror's URL with a credential in it, as users write them (the index ignores it).
  const indexUrl = index.ready.url.replace('http://', `http://skiff:${SECRET}@`);
  const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;

  const up = await s.run([
    'up', '--backend', 'aws', '--workers', '2', '--name', 'pkgs', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.large',
    '--packages', 'skiff-probe==1.2.3', '--pip-index-url', indexUrl, '--wait-timeout', '5m', '--no-client-timeout', '1h',
  ], { timeoutMs: 7 * 60_000 });
  if (up.code !== 0) t.fail(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  const c = JSON.parse(up.stdout) as UpJson;
  t.match(c, { name: 'pkgs', state: 'running' });
  t.notOk(c.warnings, 'no version differs from the client\'s');
  t.match(up.stderr, /software environment [0-9a-f]{12}: installing 7 packages on 3 machines \(.*skiff-probe==1\.2\.3.*\)/, 'up says what it installs where');
  const ready = up.stderr.split('\n').filter((l) => /: ready: installed 1 package in/.test(l));
  t.equal(ready.length, 3, `each of the 3 machines reports its environment ready:\n${up.stderr}`);
  t.notMatch(up.stderr, SECRET, 'up never prints the index credential');

  const vms = sim.vms().filter((v) => v.state !== 'gone');
  t.equal(vms.length, 3, 'three VMs');
  const probeRun = await sim.exec(DASK_PYTHON, [IMPORT, c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, 'skiff_probe'], { env: s.env, timeoutMs: 120_000 });
  t.equal(probeRun.code, 0, probeRun.stderr.slice(-1500));
  const probe = JSON.parse(probeRun.stdout.trim().split('\n').at(-1) ?? '{}') as Probe;
  t.equal(Object.keys(probe.workers ?? {}).length, 2, 'two workers answered');
  for (const [name, w] of Object.entries(probe.workers ?? {})) {
    t.equal(w.version, '1.2.3', `${name} imports skiff_probe 1.2.3 (${w.error ?? ''})`);
    t.match(w.python, /\/envs\/[0-9a-f]{64}\/bin\/python/, `${name} runs in the environment: ${w.python}`);
  }
  t.equal(probe.scheduler?.version, '1.2.3', 'the scheduler imports it too (run_on_scheduler)');

  const downloads = index.records().filter((p) => p.startsWith('/files/'));
  t.same(downloads, Array(3).fill('/files/skiff_probe-1.2.3-py3-none-any.whl'), 'each VM fetched the wheel itself, once');
  for (const v of vms) {
    const sys = await sim.vmExec(v.instanceId, '/usr/bin/python3', ['-c', 'import importlib.util as u; print(u.find_spec("skiff_probe") is None)']);
    t.equal(sys.stdout.trim(), 'True', `${v.role ?? '?'} ${v.instanceId}: the image's own Python is left as it was`);
  }

  // Where the credential may be: the enrolment answer (in memory) and pip's own config on the machine. Nowhere else.
  const ec2 = new EC2Client(sim.moto.clientConfig);
  const templates = ((await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [c.id] }] }))).LaunchTemplates ?? []).map((x) => x.LaunchTemplateId ?? '');
  const userData: string[] = [];
  for (const id of templates) {
    const versions = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id }));
    for (const v of versions.LaunchTemplateVersions ?? []) userData.push(Buffer.from(v.LaunchTemplateData?.UserData ?? '', 'base64').toString('utf8'));
  }
  t.ok(userData.length > 0 && userData.every((u) => u.includes('#!')), `read the user-data of ${templates.length} launch template(s)`);
  t.ok(userData.every((u) => !u.includes(SECRET) && !u.includes(index.ready.url.replace('/simple', ''))), 'the index URL is not in the user-data');
  t.notMatch(s.brokerLog(), SECRET, 'nor in the broker\'s log');
  const status = await s.run(['status', 'pkgs']);
  t.match(status.stdout, /software: [0-9a-f]{12}, Python 3\.\d+ .*skiff-probe==1\.2\.3/);
  t.notMatch(status.stdout, SECRET, 'status masks it');
  for (const v of vms) t.notMatch(v.journal('skiff-agent'), SECRET, `nor in ${v.role ?? '?'}'s agent log`);

  const down = await s.run(['down', 'pkgs'], { timeoutMs: 10 * 60_000 });
  t.equal(down.code, 0, down.stderr);
  const gone = await sim.waitFor(() => sim.vms().every((v) => v.state === 'gone'), { timeoutMs: 60_000, what: 'every VM gone' }).catch(() => false);
  t.ok(gone, `every VM is gone: ${gone ? '' : explain()}`);
});
