// On a fresh VM: make sure the Python the agent will run has Dask's `distributed`, installing the
// distribution's package when it is missing (a GPU image already has its drivers). Every step is logged,
// so a machine that cannot get Dask shows up as a failed cluster with these lines, not one that hangs.
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { SkiffError } from '../broker/api/errors.js';

export type Exec = (cmd: string, args: string[], timeoutMs: number) => Promise<{ code: number; output: string }>;

export const defaultExec: Exec = (cmd, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });

export async function ensureDask(o: { python: string; log: Logger; exec?: Exec }): Promise<void> {
  const exec = o.exec ?? defaultExec;
  const probe = async () => exec(o.python, ['-c', 'import distributed; print(distributed.__version__)'], 60_000);
  let r = await probe();
  if (r.code === 0) {
    o.log.info({ version: r.output.trim() }, 'dask present');
    return;
  }
  o.log.info({ python: o.python }, 'installing python3-distributed');
  for (const [cmd, args] of [['apt-get', ['update', '-q']], ['apt-get', ['install', '-y', '-q', 'python3-distributed']]] as const) {
    const step = await exec(cmd, [...args], 15 * 60_000);
    for (const line of step.output.split('\n').filter(Boolean).slice(-5)) o.log.info({ step: `${cmd} ${args[0]}` }, line);
    if (step.code !== 0) throw new SkiffError('AGT_PROCESS_FAILED', `${cmd} ${args.join(' ')} failed (exit ${step.code}); see the machine's log`);
  }
  r = await probe();
  if (r.code !== 0) throw new SkiffError('AGT_PROCESS_FAILED', `${o.python} still cannot import distributed after installing it: ${r.output.trim().slice(-300)}`);
  o.log.info({ version: r.output.trim() }, 'dask installed');
}
