// An agent killed with SIGKILL (what systemd's Restart=always then restarts) carries on with its saved
// certificate: it does not enrol again, ends the Dask process its previous run left behind, and starts
// Dask (and, on the scheduler, the gateway) again.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from './fixtures/agent-process.js';
import { startBrokerStandin } from './fixtures/broker-standin.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const running = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

async function setup(t: Test, role: 'scheduler' | 'worker') {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const scheduler = { privateHost: '127.0.0.1', publicHost: '127.0.0.1', daskPort: await freePort(), gatewayPort: await freePort(), httpPort: await freePort(), telemetryPort: await freePort() };
  const broker = await startBrokerStandin(t, { role, scheduler, logsDir: join(dir, 'logs'), nthreads: 3 });
  // A stand-in Dask: records each start (pid and arguments), then runs until signalled.
  const starts = join(dir, 'dask-starts');
  const python = join(dir, 'python');
  writeFileSync(python, `#!${process.execPath}\nrequire('fs').appendFileSync(${JSON.stringify(starts)}, process.pid + ' ' + process.argv.slice(2).join(' ') + '\\n');\nsetInterval(() => {}, 1000);\n`, { mode: 0o755 });
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ brokerUrl: broker.url, enrolToken: 'enrol-token', clusterId: 'c-test', machineId: 'm-1', role, machineDir: join(dir, 'm'), python, listenHost: '127.0.0.1' }));
  const daskStarts = () => (existsSync(starts) ? readFileSync(starts, 'utf8').trim().split('\n').map((l) => ({ pid: Number(l.split(' ')[0]), args: l })) : []);
  const stale: number[] = [];
  t.teardown(() => {
    for (const { pid } of daskStarts()) if (running(pid)) process.kill(pid, 'SIGKILL');
    for (const pid of stale) if (running(pid)) process.kill(pid, 'SIGKILL');
  });
  return { broker, scheduler, config, daskStarts };
}

for (const role of ['scheduler', 'worker'] as const) {
  t.test(`a ${role} agent killed with SIGKILL comes back with its saved certificate, without enrolling again`, async (t) => {
    const { broker, scheduler, config, daskStarts } = await setup(t, role);
    const first = startAgent(t, ['--config', config], {});
    await until('the first Dask start', () => daskStarts().length === 1);
    if (role === 'scheduler') await until('the gateway', () => answers(scheduler.gatewayPort));
    first.child.kill('SIGKILL');
    await first.exited;
    const orphan = daskStarts()[0]!.pid;
    t.ok(running(orphan), 'the killed agent left its Dask process running');

    const second = startAgent(t, ['--config', config], {});
    await until('the second Dask start', () => daskStarts().length === 2);
    t.notOk(running(orphan), 'the restarted agent ended the Dask process left behind');
    if (role === 'scheduler') await until('the gateway again', () => answers(scheduler.gatewayPort));
    t.equal(broker.enrolAttempts(), 1, 'enrolled once, in the first run');
    t.match(second.output(), /"msg":"reusing saved enrolment"/);
    const args = daskStarts()[1]!.args;
    t.match(args, role === 'scheduler' ? /-m dask scheduler / : /-m dask worker tls:\/\/127\.0\.0\.1:\d+ --name worker-1 .*--nthreads 3 /);

    second.child.kill('SIGTERM');
    t.equal((await second.exited).code, 0);
    await until('Dask stopped with the agent', () => !running(daskStarts()[1]!.pid));
  });
}
