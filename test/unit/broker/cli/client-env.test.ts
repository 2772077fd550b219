import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { softwareRequest, type RunPython } from '../../../../broker/cli/client-env.js';

// Two python3 on PATH: the first lacks distributed (as pyenv's here), the second has it.
function path(t: Test): { path: string; first: string; second: string } {
  const d = mkdtempSync(join(tmpdir(), 'skiff-clientenv-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const out: string[] = [];
  for (const n of ['a', 'b']) {
    mkdirSync(join(d, n));
    writeFileSync(join(d, n, 'python3'), '#!/bin/sh\n');
    chmodSync(join(d, n, 'python3'), 0o755);
    out.push(join(d, n, 'python3'));
  }
  return { path: `${join(d, 'missing')}:${join(d, 'a')}:${join(d, 'b')}`, first: out[0] as string, second: out[1] as string };
}

const versions = { dask: '2024.1.0', distributed: '2024.1.0', tornado: '6.4', s3fs: '2024.3.1+local' };
function python(withDistributed: string): { run: RunPython; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: (py, args) => {
      calls.push(py);
      if (args[1] === 'import distributed') return Promise.resolve({ code: py === withDistributed ? 0 : 1, stdout: '', stderr: '' });
      const names = args.slice(2);
      const found = Object.fromEntries(Object.entries(versions).filter(([k]) => names.includes(k)));
      return Promise.resolve({ code: 0, stdout: JSON.stringify({ python: '3.11', versions: found }), stderr: '' });
    },
  };
}

t.test('picks the first python3 on PATH that imports distributed and says so; bare names get the client\'s version', async (t) => {
  const p = path(t);
  const py = python(p.second);
  const said: string[] = [];
  const r = await softwareRequest({ software: 'client', packages: 's3fs xarray==2024.1.0', pipIndexUrl: 'https://u:secret@mirror/simple' }, { path: p.path, say: (l) => said.push(l), run: py.run });
  t.match(r, { mode: 'client', python: '3.11', pythonPath: p.second, client: { dask: '2024.1.0', distributed: '2024.1.0', tornado: '6.4' }, packages: ['s3fs==2024.3.1', 'xarray==2024.1.0'], indexUrl: 'https://u:secret@mirror/simple' });
  t.match(said, [
    `client Python ${p.second} (the first python3 on PATH that imports distributed): Python 3.11, dask 2024.1.0, distributed 2024.1.0`,
    "s3fs: pinned to the client's 2024.3.1+local",
    'package index https://mirror/…',
  ]);
});

t.test('no python3 with distributed: refused naming those tried, unless --software system', async (t) => {
  const p = path(t);
  const py = python('none');
  await t.rejects(softwareRequest({ software: 'client' }, { path: p.path, say: () => undefined, run: py.run }), {
    code: 'CLI_USAGE', message: new RegExp(`no python3 on PATH imports distributed \\(tried: ${p.first}, ${p.second}\\); pass --python PATH`),
  });
  t.same(await softwareRequest({ software: 'system' }, { path: p.path, say: () => undefined, run: py.run }), { mode: 'system' });
});

t.test('bad flags are refused before any Python runs', async (t) => {
  const py = python('none');
  const o = { path: '', say: () => undefined, run: py.run, readFile: () => 'ok==1\n-e ./x\n' };
  await t.rejects(softwareRequest({ software: 'conda' }, o), { code: 'CLI_USAGE', message: /--software takes client or system/ });
  await t.rejects(softwareRequest({ software: 'client', requirements: 'r.txt' }, o), { code: 'CLI_USAGE', message: /r\.txt line 2 .*editable install/ });
  await t.rejects(softwareRequest({ software: 'system', pipIndexUrl: 'https://x/simple' }, o), { code: 'CLI_USAGE', message: /need --software client/ });
  t.same(py.calls, []);
});
