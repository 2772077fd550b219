// `skiff down` while an aws cluster is still pending (the backend is inside its apply, EC2 slow to answer):
// the apply is told to stop, what it launched after the stop is terminated too, and nothing is left for gc.
import t from 'tap';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { makeHome } from '../helpers/skiff.js';
import { startMoto } from '../helpers/moto.js';
import { startEc2CapacityProxy } from '../helpers/ec2-capacity-proxy.js';
import { until } from '../helpers/wait.js';

t.test('down during pending on aws: nothing survives, no orphan, gc finds nothing', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  // A slow EC2: moto launches the workers' fleet at once, but its answer is held 6 s, so the cluster sits in
  // pending with instances the apply does not know yet.
  const proxy = await startEc2CapacityProxy({ upstream: moto.endpoint, capacity: {}, delayMs: { CreateFleet: 6000 } });
  t.teardown(() => proxy.stop());
  const h = makeHome();
  Object.assign(h.env, moto.env, { AWS_ENDPOINT_URL_EC2: proxy.endpoint });
  t.teardown(() => h.cleanup());
  const ec2 = new EC2Client(moto.clientConfig);

  const upRun = h.run(['up', '--backend', 'aws', '--workers', '2', '--name', 'hasty', '--no-wait', '--json'], { timeoutMs: 180_000 });
  // The scheduler is launched and moto has launched the workers' fleet, whose answer is still held: the apply is mid-way.
  // (The proxy records a request when moto has answered it, before the hold.)
  t.ok(await until(() => proxy.records.some((r) => r.action === 'RunInstances' && r.status === 200), 90_000, 100), 'the scheduler was launched');
  t.ok(await until(() => proxy.records.some((r) => r.action === 'CreateFleet' && r.status === 200), 30_000, 100), 'moto launched the workers\' fleet');
  const during = JSON.parse((await h.run(['status', 'hasty', '--json'])).stdout) as { id: string; state: string };
  t.equal(during.state, 'pending', 'the cluster is pending while the fleet\'s answer is held');

  const down = await h.run(['down', 'hasty']);
  t.equal(down.code, 0, down.stderr);
  const up = await upRun;
  t.not(up.code, 0, 'up reports that the cluster did not start');

  // The fleet's two workers were launched before the stop but are known to the apply only after it; the broker removes them.
  const alive = async () => {
    const res = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [during.id] }, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] }));
    return (res.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  };
  const all = async () => {
    const res = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [during.id] }] }));
    return (res.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  };
  const ok = await until(async () => (await alive()).length === 0 && (await all()).length === 3, 60_000, 500);
  const seen = ok ? '' : `: ${JSON.stringify((await all()).map((i) => [i.InstanceId, i.State?.Name]))} after ${JSON.stringify(proxy.records.map((r) => r.action))}`;
  t.ok(ok, `the scheduler and both late workers are all terminated${seen}`);
  t.same((await alive()).map((i) => i.InstanceId), [], 'no instance of the cluster is alive');

  const status = JSON.parse((await h.run(['status', 'hasty', '--json'])).stdout) as { state: string; reason?: string };
  t.match(status, { state: 'stopped', reason: 'stopped by user' });
  const gc = await h.run(['gc', '--json']);
  t.equal(gc.code, 0, gc.stderr);
  t.same(JSON.parse(gc.stdout), [], 'gc finds no orphaned instance, launch template or security group');
});
