// The watchdog on aws, through the EC2 machine simulator: real agents on simulated VMs report telemetry from a
// real Dask scheduler to the broker, whose watchdog stops an idle cluster (every instance terminated in moto);
// and with the broker killed, the machines' own fail-safe powers them off, which terminates them in moto as
// their shutdown behaviour says (the scheduler's own, the Fleet workers' from their launch template).
// Intervals are shortened through the environment (telemetry and watchdog checks every second).
import t, { type Test } from 'tap';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startEc2Sim, type Ec2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';
import { DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import { join } from 'node:path';

const CHECK_MS = 1000;
const HOLD = join(ROOT, 'test/integration/fixtures/dask_hold.py');

interface UpJson {
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

async function startCluster(t: Test, upArgs: string[]): Promise<{ sim: Ec2Sim; s: SimSkiff; c: UpJson; ec2: EC2Client; explain: () => string }> {
  const sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: String(CHECK_MS) } });
  const s = await startSimSkiff(sim, { brokerEnv: { SKIFF_WATCHDOG_INTERVAL_MS: String(CHECK_MS) } }).catch(async (err: unknown) => {
    await sim.stop();
    throw err;
  });
  t.teardown(async () => {
    await s.stop();
    await sim.stop();
  });
  const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;
  const up = await s.run(['up', '--backend', 'aws', '--workers', '2', '--name', 'wd', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.large', '--wait-timeout', '4m', ...upArgs], {
    timeoutMs: 6 * 60_000,
  });
  if (up.code !== 0) throw new Error(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  return { sim, s, c: JSON.parse(up.stdout) as UpJson, ec2: new EC2Client(sim.moto.clientConfig), explain };
}

async function notes(s: SimSkiff): Promise<Note[]> {
  const r = await s.run(['notifications', 'wd', '--json'], { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Note);
}

async function instanceStates(ec2: EC2Client, clusterId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [clusterId] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => `${i.Tags?.find((x) => x.Key === 'skiff:role')?.Value ?? '?'} ${i.State?.Name ?? '?'}`).sort();
}

t.test('an idle cluster on the simulated EC2 is stopped by the watchdog: the notification says why, every instance is terminated', async (t) => {
  const { sim, s, c, ec2, explain } = await startCluster(t, ['--idle-timeout', '20s']);
  t.same(await instanceStates(ec2, c.id), ['scheduler running', 'worker running', 'worker running'], 'three instances run');
  const vms = sim.vms().filter((v) => v.state !== 'gone');
  t.equal(vms.length, 3, 'three VMs booted');

  // A task long enough for telemetry to see it run, then nothing: the client leaves, so only the idle rule's
  // clock runs (no-client is 2m by default).
  const held = await sim.exec(DASK_PYTHON, [HOLD, c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, '6', '0'], { env: s.env, timeoutMs: 120_000 });
  const work = JSON.parse(held.stdout.trim().split('\n').at(-1) ?? '{}') as { result?: number; task_done?: number; task_end?: number };
  t.equal(work.result, 6, `the 6 s task ran on the cluster: ${held.stderr.slice(-500)}`);
  // When the task ended on its worker (the client has the result later; on a loaded machine seconds later).
  const workDoneMs = (work.task_end ?? work.task_done ?? 0) * 1000;

  const stopped = await sim.waitFor(async () => (await notes(s)).find((n) => n.state === 'stopped'), { timeoutMs: 3 * 60_000, what: 'the cluster stopped' }).catch(() => undefined);
  if (!stopped) return t.fail(`the watchdog did not stop the idle cluster: ${JSON.stringify(await notes(s))}\n${explain()}`);
  t.equal(stopped.reason, 'idle for 20s', 'the notification says why');
  const stopping = (await notes(s)).find((n) => n.state === 'stopping');
  const decidedMs = Date.parse(stopping?.at ?? stopped.at);
  // The last sample that saw the task is at most one report interval (plus its trip) before it ended.
  t.ok(decidedMs - workDoneMs >= 20_000 - 3 * CHECK_MS, `not before the limit: decided ${decidedMs - workDoneMs} ms after the task ended`);
  // Within a few check and report intervals of the limit (telemetry, the scheduler's own poll of Dask, the watchdog).
  t.ok(decidedMs - workDoneMs <= 20_000 + 15_000, `soon after the limit: decided ${decidedMs - workDoneMs} ms after the task ended`);
  const human = await s.run(['notifications', 'wd']);
  t.match(human.stdout, /wd\s+stopped\s+idle for 20s/, '`skiff notifications` says "idle for 20s"');

  t.same(await instanceStates(ec2, c.id), ['scheduler terminated', 'worker terminated', 'worker terminated'], 'every instance is terminated in moto');
  const gone = await sim.waitFor(() => sim.vms().every((v) => v.state === 'gone'), { timeoutMs: 60_000, what: 'every VM gone' }).catch(() => false);
  t.ok(gone, `every VM is gone${gone ? '' : `: ${explain()}`}`);
  for (const v of sim.vms()) t.match(v.goneReason, /terminated in moto/, `${v.role ?? '?'} ${v.instanceId}: ${v.goneReason ?? ''}`);
  const status = JSON.parse((await s.run(['status', 'wd', '--json'])).stdout) as { state: string; reason: string };
  t.match(status, { state: 'stopped', reason: 'idle for 20s' });
});

t.test('with the broker killed, the machines power themselves off and end terminated in moto; a restarted broker records why', async (t) => {
  // Idle long enough that the broker, alive for a moment after up, cannot be the one that stops it.
  const { sim, s, c, ec2, explain } = await startCluster(t, ['--idle-timeout', '40s', '--heartbeat-timeout', '10s', '--no-client-timeout', '1h']);
  const vms = sim.vms().filter((v) => v.state !== 'gone');
  t.equal(vms.length, 3, 'three VMs booted');
  await s.killBroker();
  const killedMs = Date.now();

  const gone = await sim.waitFor(() => sim.vms().every((v) => v.state === 'gone'), { timeoutMs: 4 * 60_000, what: 'every VM gone by its own power-off' }).catch(() => false);
  if (!gone) return t.fail(`not every VM powered itself off: ${explain()}`);
  t.ok(Date.now() - killedMs >= 10_000, 'not before the heartbeat limit');
  for (const v of sim.vms()) {
    // Shut down from inside, and terminated by the instance's shutdown behaviour: not by anyone's API call.
    t.match(v.goneReason, /^guest poweroff; instance terminated in moto \(instance-initiated shutdown\)$/, `${v.role ?? '?'} ${v.instanceId} powered itself off: ${v.goneReason ?? ''}`);
    const line = v.journal('skiff-agent').split('\n').find((l) => l.startsWith('{') && l.includes('"fail-safe: stopping this machine"'));
    const entry = line ? (JSON.parse(line) as { reason?: string }) : undefined;
    const why = v.role === 'scheduler' ? 'idle for 40s while the broker was unreachable for 10s' : 'upstream unreachable for 10s';
    t.equal(entry?.reason, why, `${v.role ?? '?'} says why in its journal`);
  }
  t.same(await instanceStates(ec2, c.id), ['scheduler terminated', 'worker terminated', 'worker terminated'], 'every instance is terminated in moto, none stopped');

  await s.startBroker();
  const recorded = await sim.waitFor(async () => {
    const st = JSON.parse((await s.run(['status', 'wd', '--json'])).stdout) as { state: string; reason?: string };
    return st.state === 'stopped' ? st : undefined;
  }, { timeoutMs: 60_000, what: 'the restarted broker to record the stop' }).catch(() => undefined);
  t.match(recorded, { state: 'stopped', reason: /^stopped itself while the broker was unreachable: idle for 40s while the broker was unreachable for 10s$/ }, 'the reason comes from the scheduler\'s own log in CloudWatch');
  t.match((await notes(s)).find((n) => n.state === 'stopped'), { reason: /^stopped itself while the broker was unreachable/ }, 'and is a notification');
});
