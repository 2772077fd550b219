// `skiff scale` on the local backend with real Dask: growing launches more agents (each its own enrolment);
// shrinking retires workers through Dask first (Dask picks which, their data moves), then stops exactly those
// machines; bad input changes nothing.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, type SkiffHome } from '../helpers/skiff.js';
import { notificationsJson, statusJson } from '../helpers/cluster-view.js';
import { startDaskDriver } from '../helpers/dask-driver.js';

interface View { id: string; name: string; state: string; workers: number; workersReady: number; adaptive?: unknown }
interface Notice { kind: string; reason?: string; clusterName: string }

const FAST = { SKIFF_SCALE_INTERVAL_MS: '1000', SKIFF_SCALE_POLL_MS: '300', SKIFF_TELEMETRY_INTERVAL_MS: '1000' };
const status = (h: SkiffHome, name: string): Promise<View> => statusJson<View>(h, name);
const notices = (h: SkiffHome, name: string): Promise<Notice[]> => notificationsJson<Notice>(h, name);

t.test('scale grows and shrinks a running local cluster through Dask, keeping its data', async (t) => {
  const h = makeHome();
  Object.assign(h.env, FAST);
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '1', '--worker-threads', '1', '--name', 'sc', '--json']);
  t.equal(up.code, 0, up.stderr);
  const c = JSON.parse(up.stdout) as { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } };
  const dask = startDaskDriver(c.scheduler, c.credentials);
  t.teardown(() => dask.close());
  t.same(await dask.ask('workers'), { workers: ['worker-1'] });

  const grow = await h.run(['scale', 'sc', '3']);
  t.equal(grow.code, 0, grow.stderr);
  t.match(grow.stdout, /^sc \(c[0-9a-f]+\) running {2}3\/3 workers connected\n$/, 'prints the counts once Dask has them');
  t.match(grow.stderr, /scaling sc .* from 1 to 3 workers/);
  t.same(await dask.ask('workers'), { workers: ['worker-1', 'worker-2', 'worker-3'] }, 'a client sees three workers');
  t.same(readdirSync(join(h.home, 'machines', c.id)).sort(), ['scheduler', 'worker-1', 'worker-2', 'worker-3'], 'one machine (agent) per worker');
  const enrolled = (await status(h, 'sc')) as View & { machinesEnrolled?: number };
  t.equal(enrolled.machinesEnrolled, 4, 'each new machine enrolled on its own');

  const spread = await dask.ask<{ holders: string[] }>('scatter 30');
  t.same(spread.holders, ['worker-1', 'worker-2', 'worker-3'], 'the scattered collection is spread over the three');

  const shrink = await h.run(['scale', 'sc', '1', '--json']);
  t.equal(shrink.code, 0, shrink.stderr);
  t.match(JSON.parse(shrink.stdout), { name: 'sc', state: 'running', workers: 1, workersReady: 1, adaptive: null });
  const left = await dask.ask<{ workers: string[] }>('workers');
  t.equal(left.workers.length, 1, `one worker left: ${left.workers.join(', ')}`);
  t.same(await dask.ask('holders'), { holders: left.workers, status: ['finished'] }, 'every chunk moved to the worker that stayed');
  t.same(await dask.ask('sum'), { sum: 449985000 }, 'the collection still computes: no key was lost');
  const live = h.processes().filter((p) => /worker-\d+\/agent\.json/.test(p.cmd)).map((p) => /(worker-\d+)\/agent\.json/.exec(p.cmd)?.[1]);
  t.same(live, left.workers, 'exactly the retired machines were stopped');

  const list = await h.run(['list']);
  t.match(list.stdout, /sc \(c[0-9a-f]+\) {2}running {2}1\/1 workers/);
  t.match((await h.run(['status', 'sc'])).stdout, /workers: 1 requested, 1 connected; adaptive: off/);
  const reasons = (await notices(h, 'sc')).filter((n) => n.kind === 'scale').map((n) => n.reason ?? '');
  t.match(reasons, [/scaled from 1 to 3 workers by the user/, /launched 2 workers/, /scaled from 3 to 1 worker by the user/, /Dask retired worker-\d, worker-\d .*stopped/], 'each change is a notification');

  await dask.ask('release');
  const zero = await h.run(['scale', 'sc', '0']);
  t.equal(zero.code, 0, zero.stderr);
  t.same(await dask.ask('workers'), { workers: [] }, 'no worker left');
  t.match(await status(h, 'sc'), { state: 'running', workers: 0, workersReady: 0 }, 'the scheduler stays');
  t.same(h.processes().filter((p) => /worker-\d+\/agent\.json/.test(p.cmd)), [], 'no worker agent runs');
  await dask.close();
});

t.test('bad scale and adapt input: one clear message, a non-zero exit, nothing changed', async (t) => {
  const h = makeHome();
  Object.assign(h.env, FAST);
  t.teardown(() => h.cleanup());
  t.equal((await h.run(['up', '--workers', '0', '--name', 'live'])).code, 0);
  t.equal((await h.run(['up', '--workers', '0', '--name', 'gone'])).code, 0);
  t.equal((await h.run(['down', 'gone'])).code, 0);
  const before = { live: await status(h, 'live'), notices: (await notices(h, 'live')).length };
  const cases: Array<[string[], RegExp]> = [
    [['scale', 'live', '-1'], /the worker count must be a whole number from 0 to 1000; got "-1"/],
    [['scale', 'live', 'abc'], /the worker count must be a whole number from 0 to 1000; got "abc"/],
    [['scale', 'live', '1001'], /from 0 to 1000; got "1001"/],
    [['scale', 'live', '65'], /the local backend runs 0 to 64 workers; 65 was asked for/],
    [['scale', 'live'], /takes a cluster name or id and a worker count/],
    [['adapt', 'live', '--minimum', '5', '--maximum', '2'], /--minimum 5 is above --maximum 2/],
    [['adapt', 'live', '--minimum', '1'], /needs --minimum A and --maximum B/],
    [['adapt', 'live', '--off', '--maximum', '2'], /--off` takes no --minimum or --maximum/],
    [['scale', 'nosuch', '2'], /no cluster named or with id "nosuch"/],
    [['adapt', 'nosuch', '--minimum', '1', '--maximum', '2'], /no cluster named or with id "nosuch"/],
    [['scale', 'gone', '2'], /cluster gone is stopped; only a running cluster can be scaled/],
    [['adapt', 'gone', '--minimum', '1', '--maximum', '2'], /cluster gone is stopped; only a running cluster can adapt/],
  ];
  for (const [args, message] of cases) {
    const r = await h.run(args);
    t.not(r.code, 0, `${args.join(' ')} exits non-zero`);
    t.match(r.stderr, message, `${args.join(' ')}: ${r.stderr.trim()}`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.equal(r.stdout, '', 'nothing on stdout');
  }
  const after = await status(h, 'live');
  t.same({ workers: after.workers, state: after.state, adaptive: after.adaptive }, { workers: before.live.workers, state: before.live.state, adaptive: before.live.adaptive }, 'the cluster is as it was');
  t.equal((await notices(h, 'live')).length, before.notices, 'no notification was recorded');
  t.same(readdirSync(join(h.home, 'machines', before.live.id)), ['scheduler'], 'no machine was started');
  t.equal((await status(h, 'gone')).state, 'stopped');
});
