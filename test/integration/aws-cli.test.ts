// `skiff up --backend aws` as a user runs it, against a real moto server: the broker drives the aws
// backend, serves the agent bundle the user-data pins, and refuses what could never work.
import t from 'tap';
import { createHash } from 'node:crypto';
import { DescribeInstancesCommand, DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { makeHome } from '../helpers/skiff.js';
import { startMoto } from '../helpers/moto.js';

t.test('a cluster in the emulated account: up, status, the bundle VMs download, down, gc, network delete', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const h = makeHome();
  Object.assign(h.env, moto.env);
  t.teardown(() => h.cleanup());
  const ec2 = new EC2Client(moto.clientConfig);

  const setup = await h.run(['setup', 'aws', '--no-broker', '--json']);
  t.equal(setup.code, 0, setup.stderr);
  t.match(JSON.parse(setup.stdout), { region: 'us-east-1', logGroup: '/skiff/default' });

  const up = await h.run(['up', '--backend', 'aws', '--workers', '3', '--name', 'cloud', '--no-wait', '--json', '--ssh-from', '203.0.113.7']);
  t.equal(up.code, 0, up.stderr);
  const c = JSON.parse(up.stdout) as { id: string; state: string; scheduler: string };
  t.match(c, { state: 'starting', scheduler: /^tls:\/\/\d+\.\d+\.\d+\.\d+:443$/ });

  const reservations = (await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [c.id] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }] }))).Reservations ?? [];
  const instances = reservations.flatMap((r) => r.Instances ?? []);
  const role = (i: (typeof instances)[number]) => i.Tags?.find((x) => x.Key === 'skiff:role')?.Value;
  t.equal(instances.filter((i) => role(i) === 'scheduler').length, 1, 'one scheduler');
  t.equal(instances.filter((i) => role(i) === 'worker').length, 3, 'three workers');
  t.ok(instances.filter((i) => role(i) === 'scheduler').every((i) => i.PublicIpAddress), 'the scheduler has a public IP');
  t.ok(instances.filter((i) => role(i) === 'worker').every((i) => !i.PublicIpAddress), 'workers have none');
  t.equal(c.scheduler, `tls://${instances.find((i) => role(i) === 'scheduler')?.PublicIpAddress}:443`, 'the address printed is the scheduler\'s public IP');

  await t.test('the user-data pins the agent bundle the broker serves, and carries no key', async (t) => {
    const templates = await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [c.id] }] }));
    const templateId = templates.LaunchTemplates?.[0]?.LaunchTemplateId;
    t.ok(templateId, 'the cluster has a launch template');
    const versions = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: templateId, Versions: ['$Latest'] }));
    const userData = Buffer.from(versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.UserData ?? '', 'base64').toString('utf8');
    t.match(userData, /^#!\/bin\/bash/);
    t.notMatch(userData, /BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)/);
    const url = /SKIFF_BROKER_URL='([^']+)'/.exec(userData)?.[1];
    const path = /BUNDLE_PATH='([^']+)'/.exec(userData)?.[1];
    const sha = /BUNDLE_SHA256='([0-9a-f]{64})'/.exec(userData)?.[1];
    t.ok(url && path && sha, 'broker URL, bundle path and checksum are in the user-data');
    const res = await fetch(`${url}${path}`);
    t.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    t.equal(createHash('sha256').update(body).digest('hex'), sha, 'the bundle the broker serves is the one pinned');
  });

  const status = JSON.parse((await h.run(['status', 'cloud', '--json'])).stdout) as { state: string; backend: string };
  t.match(status, { state: 'starting', backend: 'aws' });

  const down = await h.run(['down', 'cloud']);
  t.equal(down.code, 0, down.stderr);
  const left = (await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [c.id] }, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] }))).Reservations ?? [];
  t.same(left.flatMap((r) => r.Instances ?? []), [], 'no instance of the cluster is left');
  const gc = await h.run(['gc']);
  t.equal(gc.stdout.trim(), 'nothing to collect');
  const del = await h.run(['network', 'delete']);
  t.equal(del.code, 0, del.stderr);
  const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:owner', Values: ['skiff'] }] }));
  t.same(vpcs.Vpcs ?? [], [], 'no skiff network is left');
});

t.test('workspace team on aws: its own network and log group, gc and network delete of that workspace only', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const h = makeHome();
  Object.assign(h.env, moto.env);
  t.teardown(() => h.cleanup());
  const ec2 = new EC2Client(moto.clientConfig);
  const vpcsOf = async (workspace: string) =>
    (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:owner', Values: ['skiff'] }, { Name: 'tag:skiff:workspace', Values: [workspace] }] }))).Vpcs ?? [];

  const setup = await h.run(['setup', 'aws', '--no-broker', '--workspace', 'other', '--json']);
  t.equal(setup.code, 0, setup.stderr);
  t.match(JSON.parse(setup.stdout), { logGroup: '/skiff/other' }, 'setup aws --workspace prepares that workspace');

  const clash = await h.run(['up', '--backend', 'aws', '--workers', '1', '--workspace', 'team', '--options', '{"workspace":"else"}']);
  t.not(clash.code, 0);
  t.match(clash.stderr, /the workspace option "else" contradicts --workspace team/, 'two different workspaces in one request are refused');

  // The older spelling, the aws option, names the workspace too: the record and the agents' log target follow it.
  const up = await h.run(['up', '--backend', 'aws', '--workers', '1', '--name', 'teamed', '--no-wait', '--json', '--options', '{"workspace":"team"}']);
  t.equal(up.code, 0, up.stderr);
  const status = JSON.parse((await h.run(['status', 'teamed', '--json'])).stdout) as { logs: { sink: string; group: string; retentionDays: number } };
  t.match(status, { logs: { sink: 'cloudwatch', group: '/skiff/team', retentionDays: 30 } }, 'the cluster ships to the group its plan prepared');
  t.equal((await vpcsOf('team')).length, 1, 'the team has its own network');

  t.equal((await h.run(['down', 'teamed'])).code, 0);
  const gcTeam = await h.run(['gc', '--workspace', 'team', '--json']);
  t.equal(gcTeam.code, 0, gcTeam.stderr);
  t.same(JSON.parse(gcTeam.stdout), [], 'gc of the team finds nothing left');
  const delTeam = await h.run(['network', 'delete', '--workspace', 'team']);
  t.equal(delTeam.code, 0, delTeam.stderr);
  t.same(await vpcsOf('team'), [], 'network delete --workspace team removed the team\'s network');
  t.equal((await vpcsOf('other')).length, 1, 'and left the other workspace\'s alone');
  const delAgain = await h.run(['network', 'delete', '--workspace', 'team']);
  t.match(delAgain.stdout, /no skiff network of workspace team in this region/);
  const badWs = await h.run(['gc', '--workspace', '-x']);
  t.equal(badWs.code, 2, 'a bad --workspace is a usage error');
});

t.test('bad aws requests are refused before anything is created', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const h = makeHome();
  Object.assign(h.env, moto.env);
  t.teardown(() => h.cleanup());
  const cases: Array<[string[], RegExp]> = [
    [['--region', 'mars-1'], /region "mars-1" is not supported; valid regions: us-east-1/],
    [['--zone', 'eu-west-1a'], /zone/],
    [['--worker-gpu', '2'], /worker_gpu 2 is not supported: a worker has at most one GPU/],
    [['--firewall-cidr', '10.0.0.0/33'], /cidr|CIDR/],
    [['--options', '{"firewall":{"ports":[70000]}}'], /70000/],
    [['--scheduler-subnet-id', 'subnet-0abc'], /network_id|subnet/],
  ];
  for (const [args, re] of cases) {
    const r = await h.run(['up', '--backend', 'aws', '--workers', '1', ...args]);
    t.equal(r.code, 1, `up ${args.join(' ')} fails`);
    t.match(r.stderr, re, r.stderr.trim().split('\n').at(-1) ?? '');
  }
  const ec2 = new EC2Client(moto.clientConfig);
  const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:owner', Values: ['skiff'] }] }));
  t.same(vpcs.Vpcs ?? [], [], 'no network was created');
  t.same(JSON.parse((await h.run(['list', '--json'])).stdout), [], 'no cluster was recorded');
});

t.test('against real AWS a loopback broker is refused with the way out', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  // No AWS_ENDPOINT_URL: this is what a user pointing at their real account would get.
  delete h.env['AWS_ENDPOINT_URL'];
  // Without forwarding: this home has no AWS credentials, and forwarding would refuse first (CLI_NO_AWS_CREDENTIALS).
  const r = await h.run(['up', '--backend', 'aws', '--workers', '1', '--no-forward-aws-credentials']);
  t.equal(r.code, 1);
  t.match(r.stderr, /EC2 instances cannot reach this broker at http:\/\/127\.0\.0\.1:\d+ \(a loopback address\)\. Run `skiff broker --host 0\.0\.0\.0 --public-url/);
  t.same(JSON.parse((await h.run(['list', '--json'])).stdout), [], 'nothing was created');
});
