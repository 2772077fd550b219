// A cluster that cannot start says why, with the machines' last log lines, and leaves nothing running.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome } from '../helpers/skiff.js';

t.test('a Dask that cannot start ends the cluster as failed, with the reason and the last log lines', async (t) => {
  const h = makeHome();
  // /bin/false stands in for a Python without Dask: every Dask start exits at once.
  h.env['SKIFF_PYTHON'] = '/bin/false';
  h.env['SKIFF_AGENT_BACKOFF_MS'] = '50';
  h.env['SKIFF_AGENT_MAX_CRASHES'] = '2';
  t.teardown(() => h.cleanup());
  // The machines' own "Python" as it is (--software system): no environment is built with it, Dask starts at once.
  const r = await h.run(['up', '--workers', '1', '--name', 'broken', '--wait-timeout', '60s', '--software', 'system']);
  t.equal(r.code, 1, 'up fails');
  t.match(r.stderr, /cluster broken failed: (scheduler|worker-1): dask-(scheduler|worker) exited 3 times within 60 s \(last: code 1\)/);
  t.match(r.stderr, /\n {2}(scheduler|worker-1): /, 'the last log lines follow');
  const status = JSON.parse((await h.run(['status', 'broken', '--json'])).stdout) as { state: string; reason: string; lastLogLines: string[] };
  t.equal(status.state, 'failed');
  t.ok(status.lastLogLines.length > 0, 'the record keeps the last log lines');
  const broker = h.brokerPid();
  t.same(h.processes().filter((p) => p.pid !== broker), [], 'no agent or Dask process is left');
});

t.test('a cluster not ready within --wait-timeout is failed and its machines stopped', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const r = await h.run(['up', '--workers', '2', '--name', 'slow', '--wait-timeout', '1s']);
  t.equal(r.code, 1);
  t.match(r.stderr, /cluster slow failed: not running within 1s: .+ \(\d\/3 machines enrolled\); its machines were stopped/);
  const status = JSON.parse((await h.run(['status', 'slow', '--json'])).stdout) as { state: string; reason: string };
  t.match(status, { state: 'failed', reason: /not running within 1s/ });
  const broker = h.brokerPid();
  t.same(h.processes().filter((p) => p.pid !== broker), [], 'no agent or Dask process is left');
  const again = await h.run(['up', '--workers', '0', '--name', 'slow', '--json']);
  t.equal(again.code, 0, `the name is free again after a failure: ${again.stderr}`);
});

t.test('a --no-wait cluster that never becomes ready is failed by the broker at its deadline, with no CLI waiting', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  // A Python that starts and never answers: the scheduler's Dask neither runs nor exits.
  const never = join(h.home, 'never-ready-python');
  writeFileSync(never, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
  h.env['SKIFF_PYTHON'] = never;
  const up = await h.run(['up', '--workers', '1', '--name', 'hung', '--no-wait', '--wait-timeout', '8s', '--json']);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stderr, /Not running by \S+, it is failed and its machines stopped/);
  t.match(JSON.parse(up.stdout), { name: 'hung', state: 'starting' });
  const deadline = Date.now() + 30_000;
  let status: { state: string; reason?: string } = { state: 'starting' };
  while (status.state !== 'failed' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    status = JSON.parse((await h.run(['status', 'hung', '--json'])).stdout) as typeof status;
  }
  // The scheduler's agent enrols within a second or two, unless the machine is very busy: either way it is
  // the broker that failed it, at the deadline, with what was missing.
  t.match(status, { state: 'failed', reason: /^not running within 8s: the scheduler (enrolled but its Dask never answered|never enrolled) \(\d\/2 machines enrolled\)$/ });
  const broker = h.brokerPid();
  t.same(h.processes().filter((p) => p.pid !== broker), [], 'no agent, Dask or stand-in process is left');
});
