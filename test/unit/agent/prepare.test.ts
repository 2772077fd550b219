import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createExec, ensureDask, type Exec } from '../../../agent/prepare.js';

const log = pino({ level: 'silent' });
const FIXTURES = fileURLToPath(new URL('../../fixtures/boot/', import.meta.url));
const osRelease = (name: string) => () => readFileSync(join(FIXTURES, 'os-release', name), 'utf8');

t.test('does nothing when Dask is already importable', async (t) => {
  const calls: string[] = [];
  const exec: Exec = (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    return Promise.resolve({ code: 0, output: '2022.12.1\n' });
  };
  t.equal(await ensureDask({ python: '/usr/bin/python3', log, exec, osRelease: osRelease('debian-12') }), '/usr/bin/python3');
  t.same(calls, ['/usr/bin/python3 -c import distributed; print(distributed.__version__)']);
});

t.test('installs the distribution package when Dask is missing, then checks again', async (t) => {
  const calls: string[] = [];
  let installed = false;
  const exec: Exec = (cmd, args) => {
    calls.push(`${cmd} ${args[0]}`);
    if (cmd === 'apt-get' && args[0] === 'install') installed = true;
    if (cmd.endsWith('python3')) return Promise.resolve(installed ? { code: 0, output: '2022.12.1' } : { code: 1, output: 'ModuleNotFoundError' });
    return Promise.resolve({ code: 0, output: 'ok' });
  };
  await ensureDask({ python: '/usr/bin/python3', log, exec, osRelease: osRelease('debian-12') });
  t.same(calls, ['/usr/bin/python3 -c', 'apt-get update', 'apt-get install', '/usr/bin/python3 -c']);
});

t.test('a failed install is an error naming the step', async (t) => {
  const exec: Exec = (cmd) => Promise.resolve(cmd === 'apt-get' ? { code: 100, output: 'E: Unable to locate package' } : { code: 1, output: 'no module' });
  await t.rejects(ensureDask({ python: 'py', log, exec, osRelease: osRelease('debian-12') }), { code: 'AGT_PROCESS_FAILED', message: /apt-get update -q failed \(exit 100\)/ });
});

// ---- With stand-in apt-get / dnf / python on PATH that play the recordings in test/fixtures/boot. ----

interface Box {
  bin: string;
  marker: string;
  plan: string[];
  run(os: string, python?: string): Promise<{ python?: string; error?: Error & { code?: string }; calls: string[]; logs: Array<Record<string, unknown>> }>;
}

function box(t: Test, tools: string[]): Box {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-prepare-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // Only these on PATH: the machine's own apt-get or python3.11 must not answer for the stand-ins.
  for (const name of ['cat', 'ln', 'readlink', 'dirname', 'basename']) {
    symlinkSync(spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim(), join(bin, name));
  }
  for (const name of tools) symlinkSync(join(FIXTURES, 'bin', name.startsWith('python') ? 'python-standin' : 'standin'), join(bin, name));
  const marker = join(dir, 'dask-installed');
  const b: Box = {
    bin,
    marker,
    plan: [],
    async run(os, python = join(bin, 'python3')) {
      writeFileSync(join(dir, 'plan'), b.plan.join('\n') + '\n');
      const env = { PATH: bin, STANDIN_PLAN: join(dir, 'plan'), STANDIN_LOG: join(dir, 'calls'), DASK_MARKER: marker };
      const logs: Array<Record<string, unknown>> = [];
      const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(...c.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)), cb()) });
      const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []);
      try {
        const chosen = await ensureDask({ python, log: pino(sink), env, exec: createExec(env), osRelease: osRelease(os) });
        return { python: chosen, calls: calls(), logs };
      } catch (error) {
        return { error: error as Error & { code?: string }, calls: calls(), logs };
      }
    },
  };
  return b;
}

const finished = (logs: Array<Record<string, unknown>>) => logs.filter((l) => l['msg'] === 'prepare step finished' || l['msg'] === 'prepare step failed');

t.test('on Debian 12 it installs python3-distributed with apt, waiting for the dpkg lock, and logs each step', async (t) => {
  const b = box(t, ['apt-get', 'python3']);
  b.plan.push('apt-get|update *|apt/update.txt|0|', `apt-get|install *python3-distributed|apt/install-python3-distributed.txt|0|touch:${b.marker}`);
  const r = await b.run('debian-12');
  t.equal(r.error, undefined);
  t.equal(r.python, join(b.bin, 'python3'), 'Dask runs with the configured python3');
  t.same(r.calls.filter((c) => c.startsWith('apt-get')), [
    'apt-get update -q -o DPkg::Lock::Timeout=300',
    'apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 python3-distributed',
  ]);
  const steps = finished(r.logs);
  t.same(steps.map((s) => s['step']), ['apt-get update -q', 'apt-get install python3-distributed']);
  t.match((steps[1]!['lastLines'] as string[]).at(-1), /^Conf python3-distributed \(2022\.12\.1\+ds\.1-3 /, 'with the last lines apt printed');
  t.ok(r.logs.some((l) => l['msg'] === 'dask installed' && l['version'] === '2022.12.1'));
});

t.test('on Ubuntu 24.04 (ID_LIKE=debian territory) it takes the apt path too', async (t) => {
  const b = box(t, ['apt-get', 'python3']);
  b.plan.push('apt-get|update *|apt/update.txt|0|', `apt-get|install *|apt/install-python3-distributed.txt|0|touch:${b.marker}`);
  const r = await b.run('ubuntu-24.04');
  t.equal(r.python, join(b.bin, 'python3'));
});

t.test('a package apt cannot find fails with apt\'s own error line', async (t) => {
  const b = box(t, ['apt-get', 'python3']);
  b.plan.push('apt-get|update *|apt/update.txt|0|', 'apt-get|install *|apt/install-unable-to-locate.txt|100|');
  const r = await b.run('debian-12');
  t.match(r.error, { code: 'AGT_PROCESS_FAILED', message: 'apt-get install python3-distributed failed (exit 100): E: Unable to locate package python3-distributed' });
  t.match(finished(r.logs).at(-1), { msg: 'prepare step failed', exitCode: 100, lastLines: ['Reading package lists...', 'Building dependency tree...', 'E: Unable to locate package python3-distributed'] });
});

t.test('a dpkg lock held at boot is waited for, then the install goes on', async (t) => {
  const b = box(t, ['apt-get', 'python3']);
  b.plan.push('apt-get|update *|apt/update.txt|0|', `apt-get|install *-o DPkg::Lock::Timeout=300 python3-distributed|apt/install-after-lock-wait.txt|0|touch:${b.marker}`);
  const r = await b.run('debian-12');
  t.equal(r.error, undefined);
  t.match(finished(r.logs).at(-1)?.['lastLines'], [/^Waiting for cache lock: Could not get lock \/var\/lib\/dpkg\/lock-frontend/]);
});

t.test('a dpkg lock never released ends in apt\'s lock error', async (t) => {
  const b = box(t, ['apt-get', 'python3']);
  b.plan.push('apt-get|update *|apt/update.txt|0|', 'apt-get|install *|apt/install-lock-timeout.txt|100|');
  const r = await b.run('debian-12');
  t.match(r.error?.message, /failed \(exit 100\): E: Unable to acquire the dpkg frontend lock \(\/var\/lib\/dpkg\/lock-frontend\)/);
});

t.test('on Amazon Linux 2023 it installs python3.11 with dnf, Dask with pip, and runs Dask with python3.11', async (t) => {
  const b = box(t, ['dnf', 'python3']);
  b.plan.push(
    `dnf|install -y python3.11 python3.11-pip|dnf/install-python3.11.txt|0|link:${join(FIXTURES, 'bin', 'python-standin')}:${join(b.bin, 'python3.11')}`,
    `python3.11|-m pip install *dask distributed|pip/install-dask.txt|0|touch:${b.marker}`,
  );
  // Only the pip step makes the marker: before it, neither the system python3 nor python3.11 has Dask.
  const r = await b.run('amzn-2023', join(b.bin, 'python3'));
  t.equal(r.error, undefined, r.error?.message ?? 'no error');
  t.equal(r.python, join(b.bin, 'python3.11'));
  t.same(r.calls.filter((c) => !c.includes(' -c ')), [
    'dnf install -y python3.11 python3.11-pip',
    'python3.11 -m pip install --no-input --progress-bar off --root-user-action=ignore dask distributed',
  ]);
  t.match(finished(r.logs).map((s) => (s['lastLines'] as string[]).at(-1)), ['Complete!', /^Successfully installed .*dask-2026\.8\.0/]);
});

t.test('a restarted agent on Amazon Linux 2023 finds the python3.11 its first run installed', async (t) => {
  const b = box(t, ['dnf', 'python3', 'python3.11']);
  writeFileSync(b.marker, '');
  const r = await b.run('amzn-2023', '/nonexistent/python3');
  t.equal(r.python, join(b.bin, 'python3.11'));
  t.notOk(r.calls.some((c) => c.startsWith('dnf')), 'nothing installed again');
});

t.test('pip that cannot find distributed fails with pip\'s own error line', async (t) => {
  const b = box(t, ['dnf', 'python3']);
  b.plan.push(
    `dnf|install *|dnf/install-python3.11.txt|0|link:${join(FIXTURES, 'bin', 'python-standin')}:${join(b.bin, 'python3.11')}`,
    'python3.11|-m pip *|pip/install-distributed-missing.txt|1|',
  );
  const r = await b.run('amzn-2023');
  t.match(r.error?.message, 'python3.11 -m pip install dask distributed failed (exit 1): ERROR: No matching distribution found for distributed');
});

t.test('dnf without python3.11 fails with dnf\'s own error line', async (t) => {
  const b = box(t, ['dnf', 'python3']);
  b.plan.push('dnf|install *|dnf/install-no-match.txt|1|');
  const r = await b.run('amzn-2023');
  t.match(r.error?.message, 'dnf install python3.11 python3.11-pip failed (exit 1): Error: Unable to find a match: python3.11 python3.11-pip');
});

t.test('an unknown distribution is a clear error naming its ID and what is supported, and nothing is run', async (t) => {
  const b = box(t, ['apt-get', 'dnf', 'python3']);
  const r = await b.run('arch');
  t.match(r.error, { code: 'AGT_PROCESS_FAILED', message: /cannot install Dask on Arch Linux: os-release says ID=arch, ID_LIKE=none; skiff installs it on debian\/ubuntu \(apt\) or amzn\/fedora\/rhel \(dnf\)/ });
  t.same(r.calls.filter((c) => !c.includes(' -c ')), []);
});
