// Data access on aws, through the EC2 machine simulator: with no flag at all the CLI forwards the user's AWS
// credentials (a role session from their credential_process, in a moto data account with IAM authentication on,
// on the simulated internet) and a --secret-env value straight to the scheduler VM's port 443; a Dask task on a
// worker VM reads the bucket with them; a cluster made with --no-forward-aws-credentials is refused; no secret
// reaches the broker, the user-data, the VMs' files or any process environment but Dask's.
import t from 'tap';
import { join } from 'node:path';
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startEc2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';
import { startSimDataAccount } from '../helpers/data-account.js';
import { DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import { environsHolding, filesHolding, isDaskProcess } from '../helpers/secrets.js';

const ACCESS = join(ROOT, 'test/integration/fixtures/dask_data_access.py');
interface UpJson { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } }

t.test('on aws the CLI forwards credentials by default: a task on a worker VM reads the bucket; without them it is refused; no secret outside Dask', async (t) => {
  const sim = await startEc2Sim();
  const s: SimSkiff = await startSimSkiff(sim).catch(async (err: unknown) => {
    await sim.stop();
    throw err;
  });
  t.teardown(async () => {
    await s.stop();
    await sim.stop();
  });
  const account = await startSimDataAccount(sim);
  t.teardown(() => account.stop());
  const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;
  const secretValue = `s3cr3t-${Math.random().toString(36).slice(2)}`;
  // The user's shell: their AWS config (not the broker's EC2 keys) and the secret variable.
  const user = { env: { ...account.clientEnv, TEAM_TOKEN: secretValue }, withoutEnv: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'], timeoutMs: 6 * 60_000 };
  const vmTypes = ['--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.large', '--wait-timeout', '4m'];

  const up = await s.run(['up', '--backend', 'aws', '--workers', '1', '--name', 'data', '--json', '--secret-env', 'TEAM_TOKEN', ...vmTypes], user);
  if (up.code !== 0) return t.fail(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  const c = JSON.parse(up.stdout) as UpJson;
  t.match(up.stderr, /forwarding AWS credentials of arn:aws:sts::\d+:assumed-role\/data-reader\/analyst/, 'forwarded by default on aws, and says whose');
  t.match(up.stderr, /data access delivered to the scheduler: AWS credentials, TEAM_TOKEN/);

  const task = async <T>(cluster: UpJson, args: string[]): Promise<T> => {
    const r = await sim.exec(DASK_PYTHON, [ACCESS, cluster.scheduler, cluster.credentials.ca, cluster.credentials.cert, cluster.credentials.key, ...args], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`the Dask client failed: ${r.stderr.slice(-1500)}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as T;
  };
  const read = await task<{ ok: boolean; body?: string; accessKeyId?: string; error?: string; message?: string }>(c, ['s3', account.endpoint, account.bucket, account.object]);
  t.same({ ok: read.ok, body: read.body }, { ok: true, body: account.body }, `a task on the worker VM read the object: ${JSON.stringify(read)}`);
  t.ok(account.sessions().some((x) => x.accessKeyId === read.accessKeyId), 'with the session the user\'s credential_process issued');
  const env = await task<{ worker: Record<string, string | null>; scheduler: Record<string, string | null> }>(c, ['env', 'TEAM_TOKEN']);
  t.same(env, { worker: { TEAM_TOKEN: secretValue }, scheduler: { TEAM_TOKEN: secretValue } }, 'the secret variable reached both VMs\' Dask');
  const status = await s.run(['status', 'data']);
  t.match(status.stdout, /data access: AWS credentials forwarded from the client: arn:aws:sts::\d+:assumed-role\/data-reader\/analyst, until /);

  const bareUp = await s.run(['up', '--backend', 'aws', '--workers', '1', '--name', 'bare', '--json', '--no-forward-aws-credentials', ...vmTypes], user);
  if (bareUp.code !== 0) return t.fail(`up failed (exit ${bareUp.code}): ${bareUp.stderr}\n${explain()}`);
  const bare = JSON.parse(bareUp.stdout) as UpJson;
  const refused = await task<{ ok: boolean; error?: string; message?: string }>(bare, ['s3', account.endpoint, account.bucket, account.object]);
  t.equal(refused.ok, false, 'without forwarded credentials the read fails');
  t.match(refused.error, /AccessDenied|403|InvalidAccessKeyId|InvalidClientTokenId/, `refused by the data account: ${refused.message ?? ''}`);

  // Where a secret could have gone: the broker's home (store, log), each VM's files (its user-data, journals, spools),
  // each instance's user-data as EC2 holds it, and every process's environment.
  const secrets = [...account.sessions().map((x) => x.secretAccessKey), account.userSecret, secretValue];
  t.same(filesHolding(s.home, secrets), [], 'nothing under the broker\'s home holds a secret');
  t.same(filesHolding(sim.stateRoot, secrets), [], 'nothing in the VMs\' files holds a secret');
  const ec2 = new EC2Client(sim.moto.clientConfig);
  const ids = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId ?? '');
  let userData = '';
  for (const id of ids) {
    const a = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
    userData += Buffer.from(a.UserData?.Value ?? '', 'base64').toString('utf8');
  }
  t.ok(userData.includes('skiff'), `the user-data of ${ids.length} instances, read back from EC2`);
  t.notOk(secrets.some((x) => userData.includes(x)), 'no user-data holds a secret');
  const holders = environsHolding(secrets);
  t.ok(holders.some((p) => isDaskProcess(p.cmd)), 'the Dask processes on the VMs hold the secret variable (the search finds it)');
  t.same(holders.filter((p) => !isDaskProcess(p.cmd)), [], 'no other process has a secret in its environment');
  t.match(s.brokerLog(), /the client's data access reached the cluster/);
});
