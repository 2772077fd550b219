import t from 'tap';
import { pino } from 'pino';
import { ensureDask, type Exec } from '../../../agent/prepare.js';

const log = pino({ level: 'silent' });

t.test('does nothing when Dask is already importable', async (t) => {
  const calls: string[] = [];
  const exec: Exec = (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    return Promise.resolve({ code: 0, output: '2022.12.1\n' });
  };
  await ensureDask({ python: '/usr/bin/python3', log, exec });
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
  await ensureDask({ python: '/usr/bin/python3', log, exec });
  t.same(calls, ['/usr/bin/python3 -c', 'apt-get update', 'apt-get install', '/usr/bin/python3 -c']);
});

t.test('a failed install is an error naming the step', async (t) => {
  const exec: Exec = (cmd) => Promise.resolve(cmd === 'apt-get' ? { code: 100, output: 'E: Unable to locate package' } : { code: 1, output: 'no module' });
  await t.rejects(ensureDask({ python: 'py', log, exec }), { code: 'AGT_PROCESS_FAILED', message: /apt-get update -q failed \(exit 100\)/ });
});
