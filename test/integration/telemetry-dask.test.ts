// readDaskActivity against a real Dask scheduler (Debian's distributed, /usr/bin/python3): what the
// watchdog's idle and no-client rules see when nobody is connected, while a client computes, after it left.
import { spawn, type ChildProcess } from 'node:child_process';
import { freeLocalPort as freePort } from '../../provisioner/local/ports.js';
import t, { type Test } from 'tap';
import { readDaskActivity } from '../../agent/metrics/dask.js';
import type { DaskActivity } from '../../broker/api/telemetry.js';

const PYTHON = process.env['SKIFF_PYTHON'] ?? '/usr/bin/python3';


function run(t: Test, args: string[]): ChildProcess {
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout?.resume();
  child.stderr?.resume();
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function until(base: string, cond: (a: DaskActivity) => boolean, ms = 60_000): Promise<DaskActivity | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const a = await readDaskActivity(base);
      if (cond(a)) return a;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

t.test('activity and clients as a real scheduler reports them', async (t) => {
  const [daskPort, httpPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const address = `tcp://127.0.0.1:${daskPort}`;
  run(t, ['-m', 'dask', 'scheduler', '--host', '127.0.0.1', '--port', String(daskPort), '--dashboard-address', `127.0.0.1:${httpPort}`]);
  run(t, ['-m', 'dask', 'worker', address, '--nthreads', '1', '--no-dashboard', '--host', '127.0.0.1']);

  const empty = await until(base, (a) => a.workers === 1);
  t.same(empty, { tasksProcessing: 0, tasksQueued: 0, tasksNoWorker: 0, clients: 0, workers: 1 }, 'nobody connected: no client, no task');

  // A client that keeps 4 three-second tasks going on one thread, then waits for stdin to close.
  const client = run(t, ['-c', [
    'import sys, time',
    'from distributed import Client',
    `c = Client("${address}")`,
    'fs = c.map(lambda x: time.sleep(3) or x, range(4), pure=False)',
    'sys.stdin.read()',
    'c.close()',
  ].join('\n')]);
  const busy = await until(base, (a) => a.clients === 1 && a.tasksProcessing > 0);
  t.ok(busy, 'one client, tasks processing');
  t.ok(busy && busy.tasksProcessing + busy.tasksQueued === 4, `all four tasks are processing or queued: ${JSON.stringify(busy)}`);

  const done = await until(base, (a) => a.tasksProcessing + a.tasksQueued === 0);
  t.same(done && { ...done, tasksNoWorker: 0 }, { tasksProcessing: 0, tasksQueued: 0, tasksNoWorker: 0, clients: 1, workers: 1 }, 'finished: idle, client still there');

  client.stdin?.end();
  const left = await until(base, (a) => a.clients === 0);
  t.ok(left, 'the client left: no client');
});

t.test('a scheduler that is not there is a clear, retryable error', async (t) => {
  const port = await freePort();
  await t.rejects(readDaskActivity(`http://127.0.0.1:${port}`), { code: 'AGT_PROCESS_FAILED', retryable: true, message: /is the scheduler running\?/ });
});
