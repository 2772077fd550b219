// The watchdog on real local clusters: telemetry from real agents and a real Dask scheduler, decisions by
// the broker, and the machines' own fail-safe when the broker is gone. Intervals are shortened through the
// environment (telemetry and watchdog checks every second) so the minutes of the defaults become seconds.
import t from 'tap';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { makeHome, DASK_PYTHON, ROOT, type SkiffHome } from '../helpers/skiff.js';

const HOLD = join(ROOT, 'test/integration/fixtures/dask_hold.py');
const CHECK_MS = 1000;

interface Up {
  id: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}
interface Note {
  at: string;
  kind: string;
  state?: string;
  reason?: string;
}

function fastHome(extra: Record<string, string> = {}): SkiffHome {
  const h = makeHome();
  Object.assign(h.env, { SKIFF_TELEMETRY_INTERVAL_MS: String(CHECK_MS), SKIFF_WATCHDOG_INTERVAL_MS: String(CHECK_MS), ...extra });
  return h;
}

async function up(h: SkiffHome, args: string[]): Promise<Up> {
  const r = await h.run(['up', '--json', ...args]);
  if (r.code !== 0) throw new Error(`up failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Up;
}

function hold(u: Up, taskS: number, holdS: number): Promise<{ task_done: number; left: number; result?: number; task_end?: number }> {
  const c = u.credentials;
  return new Promise((resolve, reject) =>
    execFile(DASK_PYTHON, [HOLD, u.scheduler, c.ca, c.cert, c.key, String(taskS), String(holdS)], { timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { task_done: number; left: number }),
    ),
  );
}

async function notes(h: SkiffHome, name: string): Promise<Note[]> {
  const r = await h.run(['notifications', name, '--json']);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Note);
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const stoppedNote = (h: SkiffHome, name: string) => async () => (await notes(h, name)).find((n) => n.state === 'stopped');

t.test('an idle cluster stops itself soon after the limit; a busy one does not', async (t) => {
  const h = fastHome();
  t.teardown(() => h.cleanup());
  await h.run(['list']); // start the broker once, so the two clusters below start side by side
  // Each client connects as soon as its own cluster runs (an idle limit counts from then).
  const [idleRun, busyRun] = await Promise.all([
    // idle: a computation, then nothing (the client stays connected, so only the idle rule can fire).
    up(h, ['--workers', '1', '--name', 'idle', '--idle-timeout', '10s']).then((u) => hold(u, 1, 16)),
    // busy: one task running past its 10 s idle limit.
    up(h, ['--workers', '1', '--name', 'busy', '--idle-timeout', '10s']).then((u) => hold(u, 14, 0)),
  ]);
  const stop = await waitFor('idle to stop', stoppedNote(h, 'idle'), 30_000);
  t.equal(stop.reason, 'idle for 10s', 'the notification says why');
  // The limit counts from when the scheduler saw the task end: after the task ended on its worker, before the
  // client had its result (which on a loaded machine can come seconds later).
  const afterEnd = Date.parse(stop.at) - (idleRun.task_end ?? idleRun.task_done) * 1000 - 10_000;
  const afterResult = Date.parse(stop.at) - idleRun.task_done * 1000 - 10_000;
  // Within one check interval, plus one telemetry interval for the last activity to be seen.
  t.ok(afterResult <= 2 * CHECK_MS + 2000, `stopped ${afterResult} ms after the limit (one check plus one report interval)`);
  t.ok(afterEnd > -1500, `not before the limit (${afterEnd} ms after it, counted from the task's end)`);

  t.equal(busyRun.result, 14, 'the long task finished');
  const busyNotes = await notes(h, 'busy');
  const busyStop = busyNotes.find((n) => n.state === 'stopping');
  t.ok(!busyStop || Date.parse(busyStop.at) >= busyRun.task_done * 1000, 'the busy cluster was not stopped while its task ran');
  const s = await h.run(['notifications', 'idle']);
  t.match(s.stdout, /idle\s+stopped\s+idle for 10s/, '`skiff notifications` says "idle for 10s"');
});

t.test('a cluster no client ever connects to stops; one with a client lives', async (t) => {
  const h = fastHome();
  t.teardown(() => h.cleanup());
  await up(h, ['--workers', '0', '--name', 'lonely', '--no-client-timeout', '5s']);
  // Its client connects as soon as it runs; 10 s leave room for that on a loaded machine.
  const holding = up(h, ['--workers', '0', '--name', 'used', '--no-client-timeout', '10s']).then((used) => hold(used, 0, 12));
  const stop = await waitFor('lonely to stop', stoppedNote(h, 'lonely'), 30_000);
  t.equal(stop.reason, 'no client connected for 5s');
  await holding;
  t.notOk((await notes(h, 'used')).some((n) => n.state === 'stopping' && Date.parse(n.at) < Date.now() - 4000), 'the cluster with a client lived while it was connected');
});

t.test('idle GPUs raise exactly one alert at the webhook; busy GPUs none', async (t) => {
  const received: Array<{ text: string; clusterName?: string; kind: string }> = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as { text: string; kind: string });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => receiver.close(() => r())));
  const port = (receiver.address() as { port: number }).port;
  const path = `${join(ROOT, 'test/fixtures/nvidia-smi')}:${process.env['PATH'] ?? ''}`;

  const idleGpu = fastHome({ PATH: path, FAKE_NVIDIA_SMI_UTIL: '2' });
  const busyGpu = fastHome({ PATH: path, FAKE_NVIDIA_SMI_UTIL: '80' });
  t.teardown(() => idleGpu.cleanup());
  t.teardown(() => busyGpu.cleanup());
  const args = ['--workers', '1', '--gpu-alert-window', '4s', '--gpu-alert-threshold', '10', '--webhook', `http://127.0.0.1:${port}/hook`];
  await Promise.all([up(idleGpu, [...args, '--name', 'gpu-idle']), up(busyGpu, [...args, '--name', 'gpu-busy'])]);
  await waitFor('an alert', async () => (received.some((r) => r.kind === 'alert') ? true : undefined), 30_000);
  await new Promise((r) => setTimeout(r, 8000)); // two more windows: the alert must not repeat
  const alerts = received.filter((r) => r.kind === 'alert');
  t.equal(alerts.length, 1, 'exactly one alert');
  t.match(alerts[0], { clusterName: 'gpu-idle', text: /gpu-idle .*alert: .*GPU.* 2% utilization/ });
  t.same((await notes(busyGpu, 'gpu-busy')).filter((n) => n.kind === 'alert'), [], 'no alert at 80%');
  t.ok(received.some((r) => r.kind === 'state' && r.clusterName === 'gpu-busy'), 'state changes reach the webhook too');
});

t.test('with the broker dead the cluster still stops itself when idle, and the broker records it when back', async (t) => {
  const h = fastHome();
  t.teardown(() => h.cleanup());
  const u = await up(h, ['--workers', '1', '--name', 'orphan', '--idle-timeout', '5s', '--heartbeat-timeout', '3s']);
  const broker = h.brokerPid();
  process.kill(broker as number, 'SIGKILL');
  await waitFor('the machines to stop', async () => (h.processes().length === 0 ? true : undefined), 40_000);
  t.pass('every agent and Dask process stopped on its own');
  const status = JSON.parse((await h.run(['status', 'orphan', '--json'])).stdout) as { id: string; state: string; reason: string };
  t.equal(status.id, u.id);
  t.equal(status.state, 'stopped');
  t.match(status.reason, /^stopped itself while the broker was unreachable: idle for 5s while the broker was unreachable for 3s/);
});
