// `skiff up --backend aws` as a user runs it, through the EC2 machine simulator: every instance moto launches
// boots skiff's real user-data in its own namespaces, installs and starts the real agent bundle the broker
// serves, enrols, and runs real Dask; the client computes on it through the scheduler's public address on 443.
// (That every VM's log lines reach moto's CloudWatch is not asserted here yet: see issue 8's closing note.)
import t from 'tap';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startEc2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff } from '../helpers/sim-skiff.js';

interface UpJson {
  id: string;
  name: string;
  state: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

t.test('a cluster on the simulated EC2: up waits for running, Dask computes through 443, only 443 is open, down leaves nothing', async (t) => {
  const sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000' } });
  const s = await startSimSkiff(sim).catch(async (err: unknown) => {
    await sim.stop();
    throw err;
  });
  t.teardown(async () => {
    await s.stop();
    await sim.stop();
  });
  const ec2 = new EC2Client(sim.moto.clientConfig);
  const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;

  const up = await s.run(['up', '--backend', 'aws', '--workers', '2', '--name', 'sim', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.xlarge', '--wait-timeout', '4m'], { timeoutMs: 6 * 60_000 });
  if (up.code !== 0) t.fail(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  const c = JSON.parse(up.stdout) as UpJson;
  t.match(c, { name: 'sim', state: 'running', scheduler: /^tls:\/\/\d+\.\d+\.\d+\.\d+:443$/ });
  t.match(up.stderr, /machines enrolled/, 'up showed the machines enrolling while it waited');

  const vms = sim.vms().filter((v) => v.state !== 'gone');
  const scheduler = vms.find((v) => v.role === 'scheduler');
  const workers = vms.filter((v) => v.role === 'worker');
  t.equal(workers.length, 2, 'two worker VMs booted');
  t.equal(c.scheduler, `tls://${scheduler?.publicIp ?? '?'}:443`, 'the address printed is the scheduler VM\'s public IP');
  t.ok(workers.every((w) => w.publicIp === undefined), 'workers have no public address');
  for (const v of vms) t.match(v.bootLog(), /agent started/, `${v.instanceId} ran the user-data to its end`);

  await t.test('the real Dask client computes through 443, and every worker runs one thread per vCPU of its type', async (t) => {
    const info = await s.daskInfo(c.scheduler, c.credentials);
    t.match(info, { ok: true, result: 4950 }, info.error ?? '');
    const threads = Object.values(info.workers ?? {});
    t.same(threads, [4, 4], 'm6i.xlarge has 4 vCPUs: 4 threads each');

    await t.test('only 443 answers from outside: not 8786 on the public address, no worker address at all', async (t) => {
      const ip = scheduler?.publicIp ?? '';
      t.ok(await sim.canConnect(ip, 443, 3000), '443 on the scheduler\'s public address answers');
      t.notOk(await sim.canConnect(ip, 8786, 3000), '8786 on the public address does not');
      for (const addr of Object.keys(info.workers ?? {})) {
        const m = /^tls:\/\/([\d.]+):(\d+)$/.exec(addr);
        t.ok(m, `worker address ${addr}`);
        if (!m) continue;
        t.notOk(await sim.canConnect(m[1] ?? '', Number(m[2]), 3000), `${addr} is unreachable from outside the cluster`);
        t.ok(await sim.canConnect(m[1] ?? '', Number(m[2]), 3000, { from: scheduler?.instanceId ?? '' }), `${addr} answers the scheduler`);
      }
    });
  });

  await t.test('an agent killed with SIGKILL is restarted by its unit and carries on without enrolling again', async (t) => {
    const w = workers[0];
    if (!w) return t.fail('no worker');
    const status = await sim.vmExec(w.instanceId, 'systemctl', ['status', 'skiff-agent']);
    const pid = /Main PID: (\d+)/.exec(status.stdout)?.[1];
    t.ok(pid, `the agent's main pid: ${status.stdout}`);
    await sim.vmExec(w.instanceId, 'kill', ['-9', pid ?? '0']);
    const back = await sim.waitFor(async () => {
      const st = await sim.vmExec(w.instanceId, 'systemctl', ['status', 'skiff-agent']);
      const now = /Main PID: (\d+)/.exec(st.stdout)?.[1];
      return now !== undefined && now !== pid && w.journal('skiff-agent').split('reusing saved enrolment').length > 1 ? now : undefined;
    }, { timeoutMs: 60_000, what: 'the agent restarted from its saved enrolment' }).catch(() => undefined);
    t.ok(back, `restarted (pid ${back ?? '?'}), resuming its saved enrolment`);
    const info = await sim.waitFor(async () => {
      const i = await s.daskInfo(c.scheduler, c.credentials);
      return i.ok && Object.keys(i.workers ?? {}).length === 2 ? i : undefined;
    }, { timeoutMs: 90_000, what: 'both workers connected again' }).catch(() => undefined);
    t.match(info, { ok: true, result: 4950 }, 'the cluster computes with both workers again');
    const st = JSON.parse((await s.run(['status', 'sim', '--json'])).stdout) as { state: string; machinesEnrolled: number };
    t.match(st, { state: 'running', machinesEnrolled: 3 }, 'no new enrolment: still three machines');
    t.notMatch(w.journal('skiff-agent'), /BRK_ALREADY_ENROLLED|already enrolled/, 'it never tried to enrol again');
  });

  const down = await s.run(['down', 'sim'], { timeoutMs: 10 * 60_000 });
  t.equal(down.code, 0, down.stderr);
  const live = ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [c.id] }] }))).Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => i.State?.Name !== 'terminated');
  t.same(live.map((i) => `${i.InstanceId ?? ''} ${i.State?.Name ?? ''}`), [], 'every instance is terminated in moto');
  const gone = await sim.waitFor(() => sim.vms().every((v) => v.state === 'gone'), { timeoutMs: 60_000, what: 'every VM gone' }).catch(() => false);
  t.ok(gone, `every VM is gone: ${gone ? '' : explain()}`);
});
