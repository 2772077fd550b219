// Scaling on aws through the EC2 machine simulator, real Dask on every VM: `skiff scale 3` from 1 is one Fleet
// request (counted at a proxy in front of moto's EC2), and a spot interruption notice switched on in one
// worker's IMDS makes that worker's agent report it, the scheduler retire it through Dask at once, the broker
// launch a replacement and terminate the interrupted instance, with a notification saying why.
import t from 'tap';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { startEc2Sim, type Ec2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';
import { spawnSimHelper, type HelperProcess } from '../helpers/sim-helper-process.js';
import type { ProxyRecord } from '../helpers/ec2-capacity-proxy.js';

interface UpJson { id: string; state: string; scheduler: string; credentials: { ca: string; cert: string; key: string } }
interface View { workers: number; workersReady: number; state: string; workersRetiring?: number }

let sim: Ec2Sim;
let s: SimSkiff;
let proxy: HelperProcess<{ endpoint: string }, ProxyRecord>;
let ec2: EC2Client;

t.before(async () => {
  sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000', SKIFF_SCALE_POLL_MS: '500', SKIFF_SPOT_POLL_MS: '500' } });
  try {
    // No capacity limit given: the proxy forwards everything and records each call.
    proxy = await spawnSimHelper(sim, 'ec2-capacity-proxy-main.ts', ['--upstream', sim.moto.endpoint, '--host', '127.0.0.1', '--port', '0']);
    s = await startSimSkiff(sim, { brokerEnv: { AWS_ENDPOINT_URL_EC2: proxy.ready.endpoint, SKIFF_SCALE_INTERVAL_MS: '2000' } });
  } catch (err) {
    await sim.stop();
    throw err;
  }
  ec2 = new EC2Client(sim.moto.clientConfig);
});
t.teardown(async () => {
  await s?.stop();
  await sim.stop();
});

const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;
/** A CLI call that failed on a busy machine (the broker slow to answer) is made again, bounded. */
async function cli(args: string[]): Promise<string> {
  let last = '';
  for (let i = 0; i < 5; i++) {
    const r = await s.run(args);
    if (r.code === 0) return r.stdout;
    last = r.stderr;
  }
  throw new Error(`skiff ${args.join(' ')} failed: ${last}`);
}
const status = async (name: string): Promise<View> => JSON.parse(await cli(['status', name, '--json'])) as View;
async function workerInstances(clusterId: string): Promise<Instance[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [clusterId] }, { Name: 'tag:skiff:role', Values: ['worker'] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

t.test('scale 3 from 1 is one Fleet request; a spot notice retires that worker through Dask and a replacement joins', async (t) => {
  const up = await s.run([
    'up', '--backend', 'aws', '--workers', '1', '--name', 'sp', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm5.large',
    '--spot-policy', 'spot', '--wait-timeout', '4m', '--no-client-timeout', '1h',
  ], { timeoutMs: 6 * 60_000 });
  if (up.code !== 0) t.fail(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  const c = JSON.parse(up.stdout) as UpJson;

  const seen = proxy.records().length;
  const grow = await s.run(['scale', 'sp', '3', '--wait-timeout', '5m'], { timeoutMs: 6 * 60_000 });
  if (grow.code !== 0) t.fail(`scale failed (exit ${grow.code}): ${grow.stderr}\n${explain()}`);
  t.match(grow.stdout, /3\/3 workers connected/);
  const fleets = proxy.records().slice(seen).filter((r) => r.action === 'CreateFleet');
  t.equal(fleets.length, 1, 'one CreateFleet for the step');
  t.equal(fleets[0]?.fleet?.target, 2, 'asking for the two workers missing');
  t.equal(fleets[0]?.fleet?.lifecycle, 'spot', 'with the cluster\'s spot policy');
  t.ok(proxy.records().slice(seen).some((r) => r.action === 'CreateLaunchTemplateVersion'), 'the new workers got fresh user-data (a new template version)');
  const info = await s.daskInfo(c.scheduler, c.credentials);
  t.match(info, { ok: true, result: 4950 }, info.error ?? '');
  t.equal(Object.keys(info.workers ?? {}).length, 3, 'Dask has three workers');

  const running = (await workerInstances(c.id)).filter((i) => i.State?.Name === 'running');
  t.equal(running.length, 3, 'three worker instances run');
  const victim = running[1]?.InstanceId ?? '';
  const before = proxy.records().length;
  await sim.setSpotAction(victim, { action: 'terminate', time: new Date(Date.now() + 120_000).toISOString().replace(/\.\d+Z$/, 'Z') });

  const terminated = await sim.waitFor(async () => {
    const all = await workerInstances(c.id);
    return all.find((i) => i.InstanceId === victim)?.State?.Name === 'terminated' || all.every((i) => i.InstanceId !== victim);
  }, { timeoutMs: 180_000, what: 'the interrupted instance terminated' }).catch(() => false);
  t.ok(terminated, `the interrupted instance ${victim} was terminated ${terminated ? '' : explain()}`);
  const settled = await sim.waitFor(async () => {
    const v = await status('sp').catch(() => undefined);
    return v !== undefined && v.workers === 3 && v.workersReady === 3 && !v.workersRetiring;
  }, { timeoutMs: 300_000, what: 'three workers again' }).catch(() => false);
  t.ok(settled, `three workers connected again ${settled ? '' : explain()}`);
  const live = (await workerInstances(c.id)).filter((i) => i.State?.Name === 'running').map((i) => i.InstanceId);
  t.equal(live.length, 3, 'three worker instances run');
  t.notOk(live.includes(victim), 'the interrupted one is not among them');
  t.equal(proxy.records().slice(before).filter((r) => r.action === 'CreateFleet').length, 1, 'one Fleet request for the replacement');
  const after = await s.daskInfo(c.scheduler, c.credentials);
  t.match(after, { ok: true, result: 4950 }, after.error ?? '');

  const notes = await cli(['notifications', 'sp']);
  t.match(notes, new RegExp(`SCALE {2}worker-\\d \\(${victim}\\) got a spot interruption notice \\(.*terminate.*\\); retiring it through Dask and launching a replacement`), 'the notification says why');
  t.match(notes, /SCALE {2}Dask retired worker-\d \(after a notice from the cloud; data moved to the other workers\)/);

  t.match(await cli(['down', 'sp']), /sp .* stopped/, 'down stops it');
});
