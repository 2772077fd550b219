// Capacity and quotas through the EC2 machine simulator. moto never runs out of capacity, so the broker's EC2
// client goes through a fault proxy (test/helpers/ec2-capacity-proxy.ts) that answers an instant CreateFleet as
// EC2 does when a type has no capacity: the refused overrides in errorSet with InsufficientInstanceCapacity,
// only the others launched. Service Quotas is the stand-in with a small vCPU quota. Both run in the simulator's
// outer namespace beside the broker; the VMs boot skiff's real user-data and run real Dask.
import t from 'tap';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { startEc2Sim, type Ec2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';
import { spawnSimHelper, type HelperProcess } from '../helpers/sim-helper-process.js';
import type { ProxyRecord } from '../helpers/ec2-capacity-proxy.js';

interface UpJson {
  id: string;
  state: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

// Capacity EC2 has (through the proxy): none of m6i.xlarge, one c5.large, as much as asked of anything else.
const CAPACITY = ['--capacity', 'm6i.xlarge=0', '--capacity', 'c5.large=1'];
// Running On-Demand Standard and All Standard Spot: 16 vCPUs each.
const QUOTA_VCPUS = 16;

let sim: Ec2Sim;
let s: SimSkiff;
let proxy: HelperProcess<{ endpoint: string }, ProxyRecord>;
let ec2: EC2Client;

t.before(async () => {
  sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000' } });
  try {
    const sq = await spawnSimHelper<{ endpoint: string }, never>(sim, 'service-quotas-main.ts', [
      '--host', '127.0.0.1', '--port', '0', '--quota', `L-1216C47A=${QUOTA_VCPUS}`, '--quota', `L-34B43A08=${QUOTA_VCPUS}`,
    ]);
    proxy = await spawnSimHelper(sim, 'ec2-capacity-proxy-main.ts', ['--upstream', sim.moto.endpoint, '--host', '127.0.0.1', '--port', '0', ...CAPACITY]);
    s = await startSimSkiff(sim, { brokerEnv: { AWS_ENDPOINT_URL_EC2: proxy.ready.endpoint, AWS_ENDPOINT_URL_SERVICE_QUOTAS: sq.ready.endpoint } });
  } catch (err) {
    await sim.stop();
    throw err;
  }
  ec2 = new EC2Client(sim.moto.clientConfig);
});
t.teardown(async () => {
  await s?.stop();
  await sim.stop(); // also the stand-in and the proxy (processes it spawned)
});

const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;

async function clusterInstances(clusterId: string): Promise<Instance[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [clusterId] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

const roleOf = (i: Instance) => i.Tags?.find((x) => x.Key === 'skiff:role')?.Value;

t.test('a request above the vCPU quota is refused before anything is launched, with the numbers', async (t) => {
  const seen = proxy.records().length;
  // 8 × m5.xlarge (4 vCPUs) + an m6i.large scheduler (2) = 34 vCPUs, on a 16-vCPU on-demand quota.
  const up = await s.run(['up', '--backend', 'aws', '--workers', '8', '--name', 'too-big', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm5.xlarge', '--json']);
  t.not(up.code, 0, 'up fails');
  t.comment(up.stderr.trim());
  t.match(up.stderr, /Running On-Demand Standard/, 'the message names the quota');
  t.match(up.stderr, new RegExp(`\\b${QUOTA_VCPUS}\\b`), `the message gives the quota's value (${QUOTA_VCPUS} vCPUs)`);
  t.match(up.stderr, /\b34\b/, 'and what the request needs (34 vCPUs)');
  const calls = proxy.records().slice(seen).map((r) => r.action);
  t.ok(calls.includes('DescribeInstanceTypes'), `the broker's EC2 calls went through the proxy: ${calls.join(', ')}`);
  t.same(calls.filter((a) => /^(Run|Create|Allocate|Associate|Attach|Authorize|Modify|Request)/.test(a)), [], 'no RunInstances, CreateFleet or any other creating call reached EC2');
  const skiffInstances = ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:owner', Values: ['skiff'] }] }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  t.same(skiffInstances.map((i) => i.InstanceId), [], 'moto holds no skiff instance');
});

t.test('one of two worker types has no capacity: the cluster runs on the other, and Dask computes', async (t) => {
  const seen = proxy.records().length;
  const up = await s.run(
    ['up', '--backend', 'aws', '--workers', '2', '--name', 'cap-a', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.xlarge,m5.large', '--wait-timeout', '4m'],
    { timeoutMs: 6 * 60_000 },
  );
  if (up.code !== 0) t.fail(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  const c = JSON.parse(up.stdout) as UpJson;
  t.equal(c.state, 'running', 'up waited until running');

  const fleets = proxy.records().slice(seen).filter((r) => r.action === 'CreateFleet');
  t.equal(fleets.length, 1, 'one CreateFleet');
  t.same(fleets[0]?.fleet?.launched, { 'm5.large': 2 }, 'EC2 gave two m5.large');
  const refused = [...new Set(fleets[0]?.fleet?.refused.map((o) => o.instanceType))];
  t.same(refused, ['m6i.xlarge'], 'and refused every m6i.xlarge override with InsufficientInstanceCapacity');

  const workers = (await clusterInstances(c.id)).filter((i) => roleOf(i) === 'worker' && i.State?.Name === 'running');
  t.same(workers.map((w) => w.InstanceType), ['m5.large', 'm5.large'], 'moto runs two m5.large workers');
  const info = await s.daskInfo(c.scheduler, c.credentials);
  t.match(info, { ok: true, result: 4950 }, `the real Dask client computes sum(range(100)) on it ${info.error ?? ''}`);
  t.same(Object.values(info.workers ?? {}), [2, 2], 'each worker runs 2 threads: an m5.large\'s 2 vCPUs, not an m6i.xlarge\'s 4');

  const down = await s.run(['down', 'cap-a'], { timeoutMs: 5 * 60_000 });
  t.equal(down.code, 0, `down succeeds ${down.stderr}`);
  t.same((await clusterInstances(c.id)).filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId), [], 'down terminated every instance');
});

t.test('fewer workers obtainable than --min-workers: up fails saying what was missing, and nothing is left', async (t) => {
  const seen = proxy.records().length;
  // m6i.xlarge has none and c5.large one: 1 of 3 workers, below --min-workers 2.
  const up = await s.run(
    ['up', '--backend', 'aws', '--workers', '3', '--min-workers', '2', '--name', 'cap-b', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.xlarge,c5.large', '--wait-timeout', '4m'],
    { timeoutMs: 6 * 60_000 },
  );
  t.not(up.code, 0, 'up fails');
  t.comment(up.stderr.trim());
  t.match(up.stderr, /only 1 of 3 workers could be launched/, 'the message says how many could be launched of how many');
  t.match(up.stderr, /min_workers 2/, 'and the minimum asked for');
  t.match(up.stderr, /m6i\.xlarge: InsufficientInstanceCapacity/, 'and why each type fell short');
  t.match(up.stderr, /c5\.large: InsufficientInstanceCapacity/, 'both types named');
  const fleet = proxy.records().slice(seen).find((r) => r.action === 'CreateFleet')?.fleet;
  t.same(fleet?.launched, { 'c5.large': 1 }, 'EC2 did launch one c5.large');

  const st = JSON.parse((await s.run(['status', 'cap-b', '--json'])).stdout) as { id: string; state: string; reason?: string };
  t.match(st, { state: 'failed', reason: /^launch failed: only 1 of 3 workers/ }, 'the cluster is failed with that reason');
  const all = await clusterInstances(st.id);
  t.equal(all.filter((i) => roleOf(i) === 'worker').length, 1, 'the one worker EC2 gave was launched');
  t.ok(all.some((i) => roleOf(i) === 'scheduler'), 'as was the scheduler');
  t.same(all.filter((i) => i.State?.Name !== 'terminated').map((i) => `${i.InstanceId ?? ''} ${i.State?.Name ?? ''}`), [], 'every instance of it is terminated in moto');
  const ids = new Set(all.map((i) => i.InstanceId));
  const gone = await sim
    .waitFor(() => sim.vms().filter((v) => ids.has(v.instanceId)).every((v) => v.state === 'gone'), { timeoutMs: 60_000, what: 'the cluster\'s VMs gone' })
    .catch(() => false);
  t.ok(gone, `no VM of it is left: ${gone ? '' : explain()}`);
  const gc = await s.run(['gc', '--json']);
  t.equal(gc.code, 0, `skiff gc runs ${gc.stderr}`);
  t.same(JSON.parse(gc.stdout), [], 'skiff gc finds nothing left (no instance, launch template or security group)');
});
