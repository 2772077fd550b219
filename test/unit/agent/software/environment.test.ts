import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Exec } from '../../../../agent/prepare.js';
import { EnvironmentError, prepareEnvironment, MARKER } from '../../../../agent/software/environment.js';
import type { MachineSoftware } from '../../../../broker/api/software.js';

const log = pino({ level: 'silent' });
const HASH = 'ab'.repeat(32);
const software = (o: Partial<MachineSoftware> = {}): MachineSoftware => ({
  mode: 'client', hash: HASH, python: '3.11', packages: ['dask==2022.12.1', 'skiff-probe==1.2.3'], ...o,
});

/**
 * A stand-in machine: its Python is `machinePython`, the probe finds `missing` unsatisfied, an install exits
 * `installCode` with `installOutput`. venv/uv venv make the directory, as the real ones do.
 */
function standIn(o: { machinePython?: string; missing?: string[]; installCode?: number; installOutput?: string } = {}) {
  const calls: string[] = [];
  /** What each install was given: its environment and its requirements file's lines. */
  const installs: { env: Record<string, string>; requirements: string[] }[] = [];
  const exec: Exec = (cmd, args, _timeoutMs, env) => {
    const line = [cmd, ...args.filter((a) => !a.includes('\n'))].join(' ');
    calls.push(line);
    const r = args.indexOf('-r');
    if (args.includes('install') && r >= 0) installs.push({ env: { ...env }, requirements: readFileSync(args[r + 1] ?? '', 'utf8').split('\n').filter(Boolean) });
    const dirArg = args.at(-1) ?? '';
    if ((args[0] === 'venv') || (args[0] === '-m' && args[1] === 'venv')) mkdirSync(dirArg, { recursive: true });
    if (args[0] === '-c' && args[1]?.includes('version_info')) return Promise.resolve({ code: 0, output: `${o.machinePython ?? '3.11'}\n` });
    if (args[0] === '-c' && args[1]?.includes('missing')) return Promise.resolve({ code: 0, output: JSON.stringify({ missing: o.missing ?? ['skiff-probe==1.2.3'] }) });
    if (args.includes('install')) return Promise.resolve({ code: o.installCode ?? 0, output: o.installOutput ?? 'Successfully installed skiff-probe-1.2.3\n' });
    return Promise.resolve({ code: 0, output: '' });
  };
  return { calls, installs, exec };
}

function envsDir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'skiff-envs-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return join(d, 'envs');
}

t.test('with uv: uv makes the venv and installs the pins from the given indexes; the next cluster reuses it without a command', async (t) => {
  const dir = envsDir(t);
  const m = standIn();
  const steps: string[] = [];
  const python = await prepareEnvironment({
    software: software({ indexUrl: 'http://127.0.0.1:1/simple', extraIndexUrls: ['http://127.0.0.1:2/simple'] }),
    envsDir: dir, python: '/usr/bin/python3', uv: '/opt/uv/bin/uv', exec: m.exec, log, progress: (d) => steps.push(d),
  });
  const env = join(dir, HASH);
  t.equal(python, join(env, 'bin/python'));
  t.same(m.calls.filter((c) => c.startsWith('/opt/uv')), [
    `/opt/uv/bin/uv venv --system-site-packages --python /usr/bin/python3 ${env}`,
    `/opt/uv/bin/uv pip install --python ${env}/bin/python -r ${env}/skiff-requirements.txt`,
  ]);
  t.same(m.installs, [{ env: { UV_INDEX_URL: 'http://127.0.0.1:1/simple', UV_EXTRA_INDEX_URL: 'http://127.0.0.1:2/simple' }, requirements: ['dask==2022.12.1', 'skiff-probe==1.2.3'] }], 'the indexes through uv\'s variables, every pin in the file');
  t.ok(existsSync(join(env, MARKER)), 'the environment is marked complete');
  t.match(steps, [/creating environment abababababab with uv/, /installing 1 of 2 packages \(1 from the system\): skiff-probe==1\.2\.3/, /ready: installed 1 package in/]);

  const again = standIn();
  const later: string[] = [];
  t.equal(await prepareEnvironment({ software: software(), envsDir: dir, python: '/usr/bin/python3', uv: '/opt/uv/bin/uv', exec: again.exec, log, progress: (d) => later.push(d) }), python);
  t.same(again.calls, [], 'reuse runs nothing');
  t.same(later, ['ready: reused environment abababababab']);
});

t.test('with uv, a machine Python of another minor makes uv fetch the client\'s', async (t) => {
  const m = standIn({ machinePython: '3.12' });
  await prepareEnvironment({ software: software(), envsDir: envsDir(t), python: '/usr/bin/python3', uv: 'uv', exec: m.exec, log, progress: () => undefined });
  t.match(m.calls.find((c) => c.startsWith('uv venv')), /^uv venv --system-site-packages --python 3\.11 /);
});

t.test('without uv: venv with system site packages and the system pip, and nothing installed when nothing is missing', async (t) => {
  const dir = envsDir(t);
  const m = standIn({ missing: [] });
  const steps: string[] = [];
  await prepareEnvironment({ software: software(), envsDir: dir, python: '/usr/bin/python3', exec: m.exec, log, progress: (d) => steps.push(d) });
  t.ok(m.calls.includes(`/usr/bin/python3 -m venv --system-site-packages --without-pip ${join(dir, HASH)}`));
  t.notOk(m.calls.some((c) => c.includes(' install ')), 'no installer run: no index asked');
  t.match(steps.at(-1), /ready: all 2 packages from the system/);
});

t.test('without uv, a Python of another minor is refused naming both versions', async (t) => {
  const m = standIn({ machinePython: '3.12' });
  await t.rejects(prepareEnvironment({ software: software(), envsDir: envsDir(t), python: '/usr/bin/python3', exec: m.exec, log, progress: () => undefined }), {
    code: 'AGT_PROCESS_FAILED', message: /this machine's Python is 3\.12 \(\/usr\/bin\/python3\) and the client's 3\.11: .*uv/,
  });
  t.notOk(m.calls.some((c) => c.includes('venv')), 'no environment was started');
});

t.test('a failed install names the package and keeps pip\'s last lines, with credentials masked; nothing is left', async (t) => {
  const dir = envsDir(t);
  const m = standIn({
    installCode: 1,
    installOutput: 'Looking in indexes: https://alice:****@mirror.example/simple\n\x1b[31mERROR: Could not find a version that satisfies the requirement skiff-probe==9.9.9 (from versions: 1.2.3)\x1b[0m\nERROR: No matching distribution found for skiff-probe==9.9.9\n',
  });
  const err = await prepareEnvironment({ software: software({ packages: ['skiff-probe==9.9.9'] }), envsDir: dir, python: 'py', exec: m.exec, log, progress: () => undefined }).catch((e: unknown) => e);
  t.ok(err instanceof EnvironmentError);
  t.match((err as EnvironmentError).message, /could not install skiff-probe==9\.9\.9: ERROR: Could not find a version that satisfies the requirement skiff-probe==9\.9\.9 \(from versions: 1\.2\.3\)$/);
  t.same((err as EnvironmentError).lastLines.at(-1), 'ERROR: No matching distribution found for skiff-probe==9.9.9');
  t.same(readdirSync(dir), [], 'no half-built environment and no lock');
});

t.test('two builders of one environment: one builds, the other waits and reuses; a lock whose owner died is taken over', async (t) => {
  const dir = envsDir(t);
  const m = standIn();
  const steps: string[] = [];
  const go = () => prepareEnvironment({ software: software(), envsDir: dir, python: 'py', exec: m.exec, log, progress: (d) => steps.push(d) });
  await Promise.all([go(), go()]);
  t.equal(m.calls.filter((c) => c.includes('-m venv')).length, 1, 'one venv made');
  t.ok(steps.some((s) => /reused environment abababababab \(built meanwhile\)/.test(s)));

  const dir2 = envsDir(t);
  mkdirSync(dir2, { recursive: true });
  writeFileSync(join(dir2, `${HASH}.lock`), '2147483646'); // no such process
  mkdirSync(join(dir2, HASH)); // what a killed build left, without its marker
  const m2 = standIn();
  await prepareEnvironment({ software: software(), envsDir: dir2, python: 'py', exec: m2.exec, log, progress: () => undefined });
  t.ok(existsSync(join(dir2, HASH, MARKER)), 'built afresh');
  t.notOk(existsSync(join(dir2, `${HASH}.lock`)), 'the lock is released');
});
