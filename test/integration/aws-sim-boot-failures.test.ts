// A VM whose boot fails must end its cluster as failed, saying which step and with the machine's last log
// lines, and leave no instance running: through the EC2 machine simulator, one cluster per way to fail.
import t, { type Test } from 'tap';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startEc2Sim, type Ec2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';

interface Status {
  id: string;
  state: string;
  reason?: string;
  lastLogLines?: string[];
  bootReport?: { machine: string; machineId: string; step: string; lines: string[] };
}

let sim: Ec2Sim;
let s: SimSkiff;
let ec2: EC2Client;

t.before(async () => {
  sim = await startEc2Sim({ unitEnv: { SKIFF_AGENT_BACKOFF_MS: '200', SKIFF_AGENT_MAX_CRASHES: '2' } });
  s = await startSimSkiff(sim).catch(async (err: unknown) => {
    await sim.stop();
    throw err;
  });
  ec2 = new EC2Client(sim.moto.clientConfig);
});
t.teardown(async () => {
  await s.stop();
  await sim.stop();
});

/** `up` a one-machine cluster, wait for the broker's verdict, and check nothing of it is left running. */
async function upUntilOver(t: Test, name: string, extra: string[] = []): Promise<Status> {
  // No data access to wait for: with --no-wait nothing would deliver it, and Dask would never try to start.
  const up = await s.run(['up', '--backend', 'aws', '--workers', '0', '--name', name, '--no-wait', '--json', '--no-forward-aws-credentials', ...extra]);
  t.equal(up.code, 0, up.stderr);
  const id = (JSON.parse(up.stdout) as { id: string }).id;
  const status = await sim
    .waitFor(async () => {
      const st = JSON.parse((await s.run(['status', name, '--json'])).stdout) as Status;
      return st.state === 'failed' || st.state === 'stopped' || st.state === 'running' ? st : undefined;
    }, { timeoutMs: 240_000, what: `cluster ${name} to end` })
    .catch(() => undefined);
  if (!status) t.fail(`cluster ${name} never ended:\n${sim.diagnostics()}\n${s.brokerLog()}`);
  const live = ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [id] }] }))).Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => !['terminated', 'shutting-down'].includes(i.State?.Name ?? ''));
  t.same(live.map((i) => i.InstanceId), [], `no instance of ${name} is left running`);
  return status ?? { id, state: 'unknown' };
}

t.test('Node unobtainable (no node >= 20, the distro has 18, nodejs.org unreachable): failed at step node', async (t) => {
  await sim.setImage('*', { remove: ['/usr/bin/node'] });
  t.teardown(() => sim.setImage('*'));
  const st = await upUntilOver(t, 'no-node');
  t.match(st, { state: 'failed', reason: /^scheduler \(i-[0-9a-f]+\) failed to boot at step "node"$/ });
  t.match(st.bootReport, { machine: 'scheduler', machineId: /^i-[0-9a-f]+$/, step: 'node' }, 'the report came with the instance\'s identity document, and was believed');
  t.match((st.bootReport?.lines ?? []).join('\n'), /nodejs|node/, 'the boot log\'s last lines say what was tried');
  const shown = await s.run(['status', 'no-node']);
  t.match(shown.stdout, /boot failure reported by scheduler \(i-[0-9a-f]+\) at step "node", [^\n]*; in its own words:\n( {2}> [^\n]*\n)+/, 'status shows them quoted under its own line');
});

t.test('an agent bundle that is not the one pinned: failed at step bundle', async (t) => {
  // The broker pinned the bundle's SHA-256 when it started; bytes changed on disk since are refused by the VM.
  const dir = join(s.home, 'broker/bundle');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.tgz'))) {
    chmodSync(join(dir, f), 0o644);
    writeFileSync(join(dir, f), 'not the agent bundle');
  }
  const st = await upUntilOver(t, 'bad-bundle');
  t.match(st, { state: 'failed', reason: /failed to boot at step "bundle"$/ });
  t.match((st.bootReport?.lines ?? []).join('\n'), /FAILED|did NOT match/, 'sha256sum\'s own words are in the report');
  // Restore: a restarted broker packs its bundle again.
  await s.killBroker();
  await s.startBroker();
});

t.test('a Dask that cannot start: failed with the Dask process\'s last lines', async (t) => {
  await sim.setImage('*', {
    files: { '/usr/lib/python3/dist-packages/distributed/cli/dask_scheduler.py': 'import sys\nsys.exit("dask scheduler: cannot start (a broken install)")\n' },
  });
  t.teardown(() => sim.setImage('*'));
  const st = await upUntilOver(t, 'no-dask');
  t.match(st, { state: 'failed', reason: /^scheduler: dask-scheduler exited \d+ times/ });
  t.match((st.lastLogLines ?? []).join('\n'), /cannot start \(a broken install\)/);
});

t.test('VMs that never boot, with --no-wait and no CLI waiting: failed by the broker at the deadline, instances terminated', async (t) => {
  await sim.setImage('*', { neverBoots: true });
  t.teardown(() => sim.setImage('*'));
  const st = await upUntilOver(t, 'never', ['--wait-timeout', '20s']);
  t.match(st, { state: 'failed', reason: 'not running within 20s: the scheduler never enrolled (0/1 machines enrolled)' });
});
