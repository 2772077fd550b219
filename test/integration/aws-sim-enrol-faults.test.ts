// The machines' link to the broker failing while they enrol, through the EC2 machine simulator. The broker
// tells the machines a public URL that is a fault proxy in front of it (test/helpers/broker-fault-proxy.ts,
// serving the broker's own certificate, on the simulated internet address), as a load balancer or a firewall
// between the VMs and a broker would sit; the CLI talks to the broker directly.
//
// Not the same as aws-sim-boot-failures' "VMs that never boot": there nothing runs on the machines. Here they
// boot, run the agent, and keep retrying a broker they cannot reach: the broker still fails the cluster at its
// deadline and terminates the live machines.
import t from 'tap';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { startEc2Sim, type Ec2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';
import { spawnSimHelper, type HelperProcess } from '../helpers/sim-helper-process.js';
import type { FaultRecord } from '../helpers/broker-fault-proxy.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const PROXY_PORT = 9443;

interface UpJson {
  id: string;
  state: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

interface RetryLine {
  attempt: number;
  waitMs: number;
  err: string;
}

let sim: Ec2Sim;
let s: SimSkiff;
let ec2: EC2Client;

t.before(async () => {
  sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000' } });
  try {
    s = await startSimSkiff(sim, { brokerArgs: ['--public-url', `https://${sim.internetIp}:${PROXY_PORT}`] });
  } catch (err) {
    await sim.stop();
    throw err;
  }
  ec2 = new EC2Client(sim.moto.clientConfig);
});
t.teardown(async () => {
  await s?.stop();
  await sim.stop(); // also any proxy still running (a process it spawned)
});

const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;

function startProxy(faults: string[]): Promise<HelperProcess<{ url: string }, FaultRecord>> {
  return spawnSimHelper(sim, 'broker-fault-proxy-main.ts', [
    '--upstream', s.brokerUrl, '--cert', s.brokerCert, '--key', s.brokerKey, '--ca', s.brokerCert,
    '--host', sim.internetIp, '--port', String(PROXY_PORT), ...faults,
  ]);
}

/** The agent's "enrolment failed; retrying" lines (pino JSON in its journal). */
function retries(journal: string): RetryLine[] {
  return journal
    .split('\n')
    .filter((l) => l.includes('enrolment failed; retrying'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l.slice(l.indexOf('{'))) as RetryLine];
      } catch {
        return [];
      }
    });
}

async function clusterInstances(clusterId: string): Promise<Instance[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [clusterId] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

const up = (name: string, extra: string[]) =>
  s.run(['up', '--backend', 'aws', '--workers', '1', '--name', name, '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.large', ...extra], { timeoutMs: 6 * 60_000 });

t.test('the broker answers 503 to the first enrolments: the agents back off, retry, and the cluster runs', async (t) => {
  const FAILURES = 4;
  const proxy = await startProxy(['--fail-enrol', String(FAILURES)]);
  t.teardown(() => proxy.stop());
  const r = await up('enrol-503', ['--wait-timeout', '4m']);
  if (r.code !== 0) t.fail(`up failed (exit ${r.code}): ${r.stderr}\n${explain()}`);
  const c = JSON.parse(r.stdout) as UpJson;
  t.equal(c.state, 'running', 'up waited until running');

  const enrols = proxy.records().filter((x) => x.method === 'POST' && x.path === '/v1/enrol');
  t.same(enrols.map((x) => x.status), [...Array<number>(FAILURES).fill(503), 200, 200], `the proxy served ${FAILURES} 503s, then both machines enrolled`);
  t.ok(proxy.records().some((x) => x.path.startsWith('/v1/agent/bundle/') && x.status === 200), 'the bundles came through the proxy too');

  const vms = sim.vms().filter((v) => v.state !== 'gone');
  t.equal(vms.length, 2, 'two VMs');
  const all = vms.map((v) => ({ id: v.instanceId, lines: retries(v.journal('skiff-agent')) }));
  t.equal(all.reduce((n, v) => n + v.lines.length, 0), FAILURES, `the agents retried ${FAILURES} times in all, once per 503`);
  for (const v of all) {
    t.ok(v.lines.every((l) => /503 Service Temporarily Unavailable/.test(l.err)), `${v.id}: each retry was after a 503`);
    const waits = v.lines.map((l) => l.waitMs);
    t.ok(waits.every((w, i) => i === 0 || w >= (waits[i - 1] ?? 0)), `${v.id}: the waits grow (backoff): ${waits.join(', ')} ms`);
  }
  const info = await s.daskInfo(c.scheduler, c.credentials);
  t.match(info, { ok: true, result: 4950 }, `Dask computes on it ${info.error ?? ''}`);
  t.equal(Object.keys(info.workers ?? {}).length, 1, 'with its worker');

  const down = await s.run(['down', 'enrol-503'], { timeoutMs: 5 * 60_000 });
  t.equal(down.code, 0, `down succeeds ${down.stderr}`);
  t.same((await clusterInstances(c.id)).filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId), [], 'every instance terminated');
});

t.test('the broker unreachable from the machines past the deadline: failed at it, with the reason, every instance terminated', async (t) => {
  // The bundles are served; every enrolment is cut unanswered; once both bundles are out the proxy stops
  // listening, so from then on the machines' connections are refused, while the broker itself runs on.
  const proxy = await startProxy(['--drop-enrol', '--close-after-bundles', '2']);
  t.teardown(() => proxy.stop());
  const started = Date.now();
  const r = await up('enrol-dark', ['--wait-timeout', '75s']);
  const tookMs = Date.now() - started;
  t.equal(r.code, 1, 'up fails');
  t.match(r.stderr, /cluster enrol-dark failed: not running within 1m15s: the scheduler never enrolled \(0\/2 machines enrolled\)/, 'at the deadline, saying what was missing');
  t.ok(tookMs >= 75_000, `not before the deadline (${Math.round(tookMs / 1000)} s)`);

  const st = JSON.parse((await s.run(['status', 'enrol-dark', '--json'])).stdout) as { id: string; state: string; reason?: string };
  t.match(st, { state: 'failed', reason: /^not running within 1m15s: the scheduler never enrolled/ }, 'the broker recorded the failure and its reason');
  t.equal(proxy.records().filter((x) => x.path.startsWith('/v1/agent/bundle/') && x.status === 200).length, 2, 'both machines had their bundle');
  t.notOk(proxy.records().some((x) => x.path === '/v1/enrol' && x.status !== 0), 'no enrolment ever reached the broker');

  const ids = new Set((await clusterInstances(st.id)).map((i) => i.InstanceId));
  const vms = sim.vms().filter((v) => ids.has(v.instanceId));
  t.equal(vms.length, 2, 'both machines booted');
  for (const v of vms) {
    const lines = retries(v.journal('skiff-agent'));
    t.ok(lines.length >= 2, `${v.instanceId}: its agent was running and kept retrying (${lines.length} retries, last: ${lines.at(-1)?.err ?? 'none'})`);
  }
  t.same((await clusterInstances(st.id)).filter((i) => i.State?.Name !== 'terminated').map((i) => `${i.InstanceId ?? ''} ${i.State?.Name ?? ''}`), [], 'every instance is terminated in moto');
  const gone = await sim.waitFor(() => vms.every((v) => sim.vm(v.instanceId)?.state === 'gone'), { timeoutMs: 60_000, what: 'both VMs gone' }).catch(() => false);
  t.ok(gone, `both VMs (alive and retrying until then) are gone: ${gone ? '' : explain()}`);
});
