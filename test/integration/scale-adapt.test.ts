// Adaptive scaling decided next to the scheduler, with real Dask: its agent reads Dask's adaptive target and asks
// the broker for workers within the bounds; an explicit scale turns it off; a lost worker is replaced.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, type SkiffHome } from '../helpers/skiff.js';
import { notificationsJson, statusJson } from '../helpers/cluster-view.js';
import { startDaskDriver } from '../helpers/dask-driver.js';
import { until } from '../helpers/wait.js';

interface View { id: string; name: string; state: string; reason?: string; workers: number; workersReady: number; adaptive?: { minimum: number; maximum: number } | null }
interface Notice { kind: string; state?: string; reason?: string }

const FAST = {
  SKIFF_SCALE_INTERVAL_MS: '1000', SKIFF_SCALE_POLL_MS: '300', SKIFF_TELEMETRY_INTERVAL_MS: '1000', SKIFF_WATCHDOG_INTERVAL_MS: '1000',
  SKIFF_ADAPT_INTERVAL_MS: '1000', SKIFF_ADAPT_COOLDOWN_MS: '2000',
};
const status = (h: SkiffHome, name: string): Promise<View> => statusJson<View>(h, name);
const notices = (h: SkiffHome, name: string): Promise<Notice[]> => notificationsJson<Notice>(h, name);
/**
 * Worker machines of this home whose agent runs now, by name: a child the agent is forking (telemetry's
 * commands, pip, Dask) shows the agent's command line until it execs, and is the same machine.
 */
const workerAgents = (h: SkiffHome): string[] => [...new Set(h.processes().flatMap((p) => /(worker-\d+)\/agent\.json/.exec(p.cmd)?.[1] ?? []))];

t.test('adapt 1..4: four workers while 60 one-second tasks run, never more, back to one after; idle still stops it', async (t) => {
  const h = makeHome();
  // No scale-down within 20 s of a change: a worker launched by the step up has that long to join before Dask's
  // falling target (the first workers already ran some tasks) could stop it while it boots on a loaded machine.
  Object.assign(h.env, FAST, { SKIFF_ADAPT_COOLDOWN_MS: '20000' });
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '1', '--worker-threads', '1', '--name', 'ad', '--idle-timeout', '60s', '--json']);
  t.equal(up.code, 0, up.stderr);
  const c = JSON.parse(up.stdout) as { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } };
  const on = await h.run(['adapt', 'ad', '--minimum', '1', '--maximum', '4', '--json']);
  t.equal(on.code, 0, on.stderr);
  t.match(JSON.parse(on.stdout), { name: 'ad', workers: 1, adaptive: { minimum: 1, maximum: 4 } });

  const dask = startDaskDriver(c.scheduler, c.credentials);
  t.teardown(() => dask.close());
  // The machines too, sampled every 200 ms while the tasks run.
  let maxAgents = 0;
  const sampler = setInterval(() => (maxAgents = Math.max(maxAgents, workerAgents(h).length)), 200);
  const run = await dask.ask<{ max: number; samples: number[]; results: number }>('tasks 60 1', 180_000);
  clearInterval(sampler);
  // What scaling did, for whoever reads a failure.
  t.comment((await notices(h, 'ad')).map((n) => n.reason ?? n.kind).join('\n'));
  t.equal(run.results, 60, 'every task ran');
  t.equal(run.max, 4, `Dask had 4 workers while they ran (${run.samples.length} samples)`);
  t.ok(run.samples.every((n) => n <= 4), 'never more than 4 workers in any sample');
  t.ok(maxAgents <= 4, `never more than 4 worker machines (max ${maxAgents})`);

  t.ok(await until(async () => {
    const v = await status(h, 'ad');
    return v.workers === 1 && v.workersReady === 1;
  }, 150_000, 1000), 'back to one worker');
  t.same((await dask.ask<{ workers: string[] }>('workers')).workers.length, 1, 'Dask has one worker again');
  const steps = (await notices(h, 'ad')).filter((n) => n.kind === 'scale').map((n) => n.reason ?? '');
  t.match(steps, [/adaptive scaling on: 1 to 4 workers/, /adaptive: Dask's target is \d+ workers?; 1 → [234]/], 'the first steps are notifications');
  const downs = steps.filter((r) => /adaptive: .*; [234] → [123]$/.test(r)).map((r) => /; (\d) → (\d)$/.exec(r)?.slice(1).map(Number) ?? []);
  t.ok(downs.length >= 1 && downs.every(([from = 0, to = 0]) => from - to === 1), `down one worker per step at this size: ${JSON.stringify(downs)}`);

  // The watchdog's idle rule still holds for an adaptive cluster at its minimum.
  t.ok(await until(async () => (await status(h, 'ad')).state === 'stopped', 120_000, 2000), 'the idle cluster stopped');
  t.match((await status(h, 'ad')).reason, /idle for 1m/);
  await dask.close();
});

t.test('an explicit scale turns adapt off; a killed worker (agent and Dask) is replaced with a notification', async (t) => {
  const h = makeHome();
  Object.assign(h.env, FAST);
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '2', '--worker-threads', '1', '--name', 'lo', '--json']);
  t.equal(up.code, 0, up.stderr);
  const c = JSON.parse(up.stdout) as { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } };
  t.equal((await h.run(['adapt', 'lo', '--minimum', '2', '--maximum', '3'])).code, 0);
  const off = await h.run(['scale', 'lo', '2', '--json']);
  t.equal(off.code, 0, off.stderr);
  t.match(JSON.parse(off.stdout), { workers: 2, workersReady: 2, adaptive: null }, 'scale turned adaptive scaling off');
  t.match((await notices(h, 'lo')).at(-1), { kind: 'scale', reason: /scaled from 2 to 2 workers by the user; adaptive scaling is off/ });

  const dir = join(h.home, 'machines', c.id, 'worker-2');
  const agentPid = Number(readFileSync(join(dir, 'agent.pid'), 'utf8'));
  const daskPid = Number(readFileSync(join(dir, 'dask.pid'), 'utf8').trim().split(/\s+/)[0]);
  t.ok(agentPid > 0 && daskPid > 0, `agent ${agentPid}, Dask ${daskPid}`);
  process.kill(agentPid, 'SIGKILL');
  process.kill(daskPid, 'SIGKILL');

  t.ok(await until(async () => {
    const v = await status(h, 'lo');
    return v.workers === 2 && v.workersReady === 2 && workerAgents(h).includes('worker-3');
  }, 90_000, 1000), 'a replacement worker joined');
  const dask = startDaskDriver(c.scheduler, c.credentials);
  t.teardown(() => dask.close());
  t.same(await dask.ask('workers'), { workers: ['worker-1', 'worker-3'] }, 'Dask has the replacement, not the killed one');
  t.same(workerAgents(h).sort(), ['worker-1', 'worker-3']);
  const reasons = (await notices(h, 'lo')).filter((n) => n.kind === 'scale').map((n) => n.reason ?? '');
  t.match(reasons.slice(-2), [/worker-2 \(worker-2\) lost: its machine stopped without being asked to; launching a replacement/, /launched 1 worker \(worker-3\) towards 2/]);
  await dask.close();
});
