// `skiff up --backend aws` as a user runs it, through the EC2 machine simulator: every instance moto launches
// boots skiff's real user-data in its own namespaces, installs and starts the real agent bundle the broker
// serves, enrols, and runs real Dask; the client computes on it through the scheduler's public address on 443.
// Every VM ships its boot log, its agent's log and Dask's output to moto's CloudWatch with the credentials of
// its instance profile (from IMDS), and `skiff logs` reads them back as a user would.
import t from 'tap';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
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

  // The watchdog's no-client rule (2 min by default) is not under test here: on a busy machine the pauses between
  // this file's Dask clients can be longer than that.
  const up = await s.run([
    'up', '--backend', 'aws', '--workers', '2', '--name', 'sim', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.xlarge',
    '--wait-timeout', '4m', '--no-client-timeout', '1h',
  ], { timeoutMs: 6 * 60_000 });
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

  await t.test('log lines from the scheduler and from each worker VM are in moto\'s CloudWatch, and skiff logs reads them', async (t) => {
    const cw = new CloudWatchLogsClient(sim.moto.clientConfig);
    const view = JSON.parse((await s.run(['status', 'sim', '--json'])).stdout) as { logs?: { sink: string; group: string; region?: string } };
    t.match(view.logs, { sink: 'cloudwatch', group: '/skiff/default', region: 'us-east-1' }, 'the cluster logs to the workspace\'s CloudWatch group');
    const group = view.logs?.group ?? '';
    const streamOf = (id: string) => `${c.id}/${id}`;
    // What each machine must have shipped: its boot log (followed from the start), its agent's own log, Dask's output.
    const want = (role: string) => [/^\[boot\] .*agent started/m, /^\[agent\] \{/m, new RegExp(`^\\[dask-${role}:std(out|err)\\] `, 'm')];
    const messagesOf = async (stream: string): Promise<string> => {
      const out = await cw.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, limit: 10_000 }));
      return (out.events ?? []).map((e) => e.message ?? '').join('\n');
    };
    const shipped = await sim.waitFor(async () => {
      for (const v of vms) {
        const text = await messagesOf(streamOf(v.instanceId)).catch(() => '');
        if (!want(v.role ?? '').every((re) => re.test(text))) return undefined;
      }
      return true;
    }, { timeoutMs: 90_000, what: 'every VM\'s boot, agent and Dask lines in CloudWatch' }).catch(() => false);
    if (!shipped) {
      const streams = await cw.send(new DescribeLogStreamsCommand({ logGroupName: group })).then((o) => (o.logStreams ?? []).map((x) => x.logStreamName).join(', '), (err: unknown) => String(err));
      const journals = vms.map((v) => `${v.instanceId} (${v.role ?? '?'}):\n${v.journal('skiff-agent').split('\n').filter((l) => /ship|log group|Credential|credentials/i.test(l)).slice(-8).join('\n')}`).join('\n');
      t.fail(`not every VM's lines reached CloudWatch; streams in ${group}: ${streams}\n${journals}`);
    }
    for (const v of vms) {
      const text = await messagesOf(streamOf(v.instanceId)).catch((err: unknown) => String(err));
      for (const re of want(v.role ?? '')) t.match(text, re, `${v.role ?? '?'} ${v.instanceId}: ${re.source}`);
    }
    const logs = await s.run(['logs', 'sim', '--json'], { timeoutMs: 120_000 });
    t.equal(logs.code, 0, logs.stderr);
    const lines = logs.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { machine: string; message: string });
    for (const v of vms) {
      t.ok(lines.some((l) => l.machine === v.instanceId && /^\[dask-/.test(l.message)), `skiff logs prints Dask lines of ${v.role ?? '?'} ${v.instanceId}`);
    }
  });

  await t.test('an agent killed with SIGKILL is restarted by its unit and carries on without enrolling again', async (t) => {
    const w = workers[0];
    if (!w) return t.fail('no worker');
    const status = await sim.vmExec(w.instanceId, 'systemctl', ['status', 'skiff-agent']);
    const pid = /Main PID: (\d+)/.exec(status.stdout)?.[1];
    t.ok(pid, `the agent's main pid: ${status.stdout}`);
    const env = await sim.vmExec(w.instanceId, 'cat', ['/etc/skiff/agent.env']);
    t.notMatch(env.stdout, /SKIFF_ENROL_TOKEN/, 'enrolled: agent.env no longer holds the enrol token');
    t.match(env.stdout, /^SKIFF_ROLE=worker$/m, 'it names the role instead');
    await sim.vmExec(w.instanceId, 'kill', ['-9', pid ?? '0']);
    const back = await sim.waitFor(async () => {
      const st = await sim.vmExec(w.instanceId, 'systemctl', ['status', 'skiff-agent']);
      const now = /Main PID: (\d+)/.exec(st.stdout)?.[1];
      return now !== undefined && now !== pid && w.journal('skiff-agent').split('reusing saved enrolment').length > 1 ? now : undefined;
    }, { timeoutMs: 60_000, what: 'the agent restarted from its saved enrolment' }).catch(() => undefined);
    t.ok(back, `restarted (pid ${back ?? '?'}), resuming its saved enrolment`);
    const environ = await sim.vmExec(w.instanceId, 'cat', [`/proc/${back ?? '0'}/environ`]);
    t.ok(environ.stdout.includes('SKIFF_ROLE=worker') && !environ.stdout.includes('SKIFF_ENROL_TOKEN'), 'the restarted agent runs without the enrol token in its environment');
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
