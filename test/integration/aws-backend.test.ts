// The aws backend against a real moto server, driven by the real @aws-sdk clients: the must-show
// 1 (topology, public IP, firewall, tags, network reuse), 2 (down, gc, network delete) and 4 (every action
// called is in the policy documents).
import t from 'tap';
import {
  EC2Client,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  type Instance,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
} from '@aws-sdk/client-ec2';
import { IAMClient, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { startMoto } from '../helpers/moto.js';
import { awsTestDeps, awsTestSpec } from '../helpers/aws.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { countByKind, listSkiffResources } from '../../provisioner/aws/inventory.js';
import { collectGarbage } from '../../provisioner/aws/gc.js';
import { deleteNetwork } from '../../provisioner/aws/network-delete.js';
import { setupAws } from '../../provisioner/aws/setup.js';
import { allowedActions, ongoingPolicy, setupPolicy } from '../../provisioner/aws/policies.js';
import type { ClusterSpec } from '../../provisioner/backend.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
const ec2 = new EC2Client(moto.clientConfig);
const iam = new IAMClient(moto.clientConfig);
const ins = instrumentPort(createSdkPort({ ec2, logs: new CloudWatchLogsClient(moto.clientConfig), iam }));
const deps = awsTestDeps(ins.port);
const backend = createAwsBackend(deps);
const ctx = makeContext(deps, 'us-east-1');
const allCalls: string[] = [];
t.afterEach(() => {
  allCalls.push(...ins.actions);
  ins.reset();
});

const spec = (clusterId: string, workers: number, options: Record<string, unknown> = {}): ClusterSpec =>
  awsTestSpec(clusterId, workers, { ssh_from: '203.0.113.7', firewall: { ports: [22, 443], cidr: '198.51.100.0/24' }, ...options });

async function instancesOf(clusterId: string): Promise<Instance[]> {
  const out = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [clusterId] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }] }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** The instance profile the cluster's launch template names, if any. */
async function profileOfCluster(clusterId: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: `skiff-${clusterId}`, Versions: ['$Latest'] }));
  return out.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.IamInstanceProfile?.Name;
}

/** The workspace's agent role as IAM has it: trust, inline policy, profile, tags; undefined parts are missing. */
async function agentRoleOf(workspace: string) {
  const name = `skiff-agent-${workspace}`;
  const missing = (e: unknown) => {
    if (e instanceof Error && /NoSuchEntity/.test(e.name)) return undefined;
    throw e;
  };
  const role = await iam.send(new GetRoleCommand({ RoleName: name })).then((o) => o.Role, missing);
  const policy = role ? await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: 'skiff-agent-logs' })).then((o) => o.PolicyDocument, missing) : undefined;
  const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })).then((o) => o.InstanceProfile, missing);
  const json = (doc: string | undefined) => (doc === undefined ? undefined : (JSON.parse(decodeURIComponent(doc)) as unknown));
  return {
    trust: json(role?.AssumeRolePolicyDocument),
    policy: json(policy),
    roleTags: Object.fromEntries((role?.Tags ?? []).map((x): [string, string] => [x.Key ?? '', x.Value ?? ''])),
    profileRoles: profile ? (profile.Roles ?? []).map((r) => r.RoleName) : undefined,
  };
}

async function defaultRouteOf(subnetId: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }));
  const route = out.RouteTables?.[0]?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
  return route?.GatewayId ?? route?.NatGatewayId;
}

t.test('up with 3 workers: scheduler public behind the internet gateway, workers private behind NAT, firewall as asked, all tagged', async (t) => {
  await moto.reset();
  const s = spec('c-one', 3);
  const plan = await backend.plan(s);
  const machines = await backend.apply(s, plan);
  t.equal(machines.length, 4);
  const sched = machines.find((m) => m.role === 'scheduler');
  t.ok(sched?.publicHost, 'the scheduler has a public IP');
  t.same(machines.filter((m) => m.role === 'worker').map((m) => m.name), ['worker-1', 'worker-2', 'worker-3']);
  for (const w of machines.filter((m) => m.role === 'worker')) t.notOk(w.publicHost, `${w.name} has no public IP`);

  const instances = await instancesOf('c-one');
  t.equal(instances.length, 4);
  for (const i of instances) {
    const role = i.Tags?.find((x) => x.Key === 'skiff:role')?.Value;
    const route = await defaultRouteOf(i.SubnetId ?? '');
    if (role === 'scheduler') {
      t.match(route, /^igw-/, 'scheduler subnet routes 0.0.0.0/0 to the internet gateway');
      t.ok(i.PublicIpAddress, 'scheduler has a public IP');
      const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: (i.SecurityGroups ?? []).map((g) => g.GroupId ?? '') }));
      const perms = (groups.SecurityGroups ?? []).flatMap((g) => g.IpPermissions ?? []);
      const open = perms.filter((p) => p.IpProtocol === 'tcp').map((p) => `${p.FromPort}:${(p.IpRanges ?? []).map((r) => r.CidrIp).join(',')}`).sort();
      t.same(open, ['22:203.0.113.7/32', '443:198.51.100.0/24'], '443 from the firewall CIDR, 22 only from the client /32');
      t.ok(perms.some((p) => p.IpProtocol === '-1' && p.UserIdGroupPairs?.length), 'the cluster group admits all traffic from itself');
    } else {
      t.match(route, /^nat-/, `${i.InstanceId} subnet routes 0.0.0.0/0 to the NAT gateway`);
      t.notOk(i.PublicIpAddress, `${i.InstanceId} has no public IP`);
    }
  }

  const inventory = await listSkiffResources(ctx);
  t.same(countByKind(inventory), {
    vpc: 1,
    subnet: 12,
    'internet-gateway': 1,
    'route-table': 2,
    'elastic-ip': 1,
    'nat-gateway': 1,
    'security-group': 2,
    'launch-template': 1,
    instance: 4,
  });
  for (const r of inventory) {
    t.match(r.tags, { owner: 'skiff', 'skiff:workspace': 'default', Name: /^skiff-/ }, `${r.kind} ${r.id} is tagged`);
    if (['instance', 'launch-template', 'security-group'].includes(r.kind)) t.equal(r.tags['skiff:cluster'], 'c-one', `${r.kind} ${r.id} names its cluster`);
  }
  t.same(await backend.machines(plan), machines, 'machines() reads back what apply returned');
  t.match(await backend.attest(plan, sched?.id ?? ''), { id: sched?.id, role: 'scheduler' }, 'attest accepts the cluster scheduler');

  // A second cluster reuses the network: no network resource is created again.
  ins.reset();
  const s2 = spec('c-two', 2);
  const plan2 = await backend.plan(s2);
  await backend.apply(s2, plan2);
  const creates = ins.actions.filter((a) => /Create(Vpc|Subnet|InternetGateway|RouteTable|Route|NatGateway)$|AllocateAddress|AttachInternetGateway|AssociateRouteTable/.test(a));
  t.same(creates, [], 'the second cluster creates no network resource');
  const after = countByKind(await listSkiffResources(ctx));
  t.match(after, { vpc: 1, subnet: 12, 'nat-gateway': 1, 'security-group': 4, 'launch-template': 2, instance: 7 });
  t.equal(await backend.attest(plan2, sched?.id ?? ''), undefined, 'an instance of another cluster does not attest');
  t.equal(await backend.attest(plan, 'i-00000000'), undefined, 'an unknown instance does not attest');
});

t.test('down leaves no running instance; gc then finds nothing; network delete leaves nothing', async (t) => {
  await moto.reset();
  const s = spec('c-down', 2);
  const plan = await backend.plan(s);
  await backend.apply(s, plan);
  await backend.destroy(plan);
  t.same(await instancesOf('c-down'), [], 'no live instance of the cluster');
  t.same(await backend.machines(plan), []);
  await backend.destroy(plan);
  t.pass('a second down is a no-op');
  t.same(await collectGarbage(ctx, { liveClusterIds: [], confirm: false }), [], 'gc finds nothing');
  const left = countByKind(await listSkiffResources(ctx));
  t.same(left, { vpc: 1, subnet: 12, 'internet-gateway': 1, 'route-table': 2, 'elastic-ip': 1, 'nat-gateway': 1 }, 'only the shared network is left');
  t.same((await agentRoleOf('default')).profileRoles, ['skiff-agent-default'], 'down keeps the workspace\'s agent role, like the network');
  await deleteNetwork(ctx, 'default');
  t.same(await listSkiffResources(ctx), [], 'network delete leaves nothing');
  t.same(await agentRoleOf('default'), { trust: undefined, policy: undefined, roleTags: {}, profileRoles: undefined }, 'network delete removed the agent role and instance profile');
  await deleteNetwork(ctx, 'default');
  t.pass('a second network delete is a no-op');
});

t.test('gc removes the resources of a cluster the broker no longer knows and keeps live ones', async (t) => {
  await moto.reset();
  for (const id of ['c-live', 'c-dead']) {
    const s = spec(id, 1);
    await backend.apply(s, await backend.plan(s));
  }
  const found = await collectGarbage(ctx, { liveClusterIds: ['c-live'], confirm: false });
  t.same([...new Set(found.map((f) => f.clusterId))], ['c-dead']);
  t.same(found.map((f) => f.kind).sort(), ['instance', 'instance', 'launch-template', 'security-group', 'security-group']);
  t.equal((await instancesOf('c-dead')).length, 2, 'listing alone removes nothing');
  await collectGarbage(ctx, { liveClusterIds: ['c-live'], confirm: true });
  t.equal((await instancesOf('c-dead')).length, 0);
  t.equal((await instancesOf('c-live')).length, 2, 'the live cluster is untouched');
  t.same(await collectGarbage(ctx, { liveClusterIds: ['c-live'], confirm: false }), []);
  await t.rejects(deleteNetwork(ctx, 'default'), { code: 'PRV_INVALID_REQUEST', message: /live instance.*c-live/ }, 'network delete refuses while a cluster runs');
});

t.test('setup checks permissions with DryRun and creates the network and log group ahead of time', async (t) => {
  await moto.reset();
  const report = await setupAws(ctx, { workspace: 'default' });
  t.same(report.permissions.map((p) => p.result), report.permissions.map(() => 'allowed'));
  t.same(report.warnings, []);
  t.equal(report.logGroup, '/skiff/default');
  t.match(countByKind(await listSkiffResources(ctx)), { vpc: 1, subnet: 12, 'nat-gateway': 1 });
  ins.reset();
  const s = spec('c-after-setup', 1);
  await backend.apply(s, await backend.plan(s));
  t.notOk(ins.actions.includes('ec2:CreateVpc'), 'up after setup reuses the network');
});

t.test('setup creates the agents\' role (EC2 trust, logs-only policy) and instance profile once; a cluster launches with it', async (t) => {
  await moto.reset();
  const report = await setupAws(ctx, { workspace: 'team', tags: { project: 'x' } });
  t.equal(report.agentProfile, 'skiff-agent-team');
  const role = await agentRoleOf('team');
  t.match(role.trust, { Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  t.match(role.policy, {
    Statement: [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents', 'logs:PutRetentionPolicy'],
        Resource: ['arn:aws:logs:*:*:log-group:/skiff/team', 'arn:aws:logs:*:*:log-group:/skiff/team:*', 'arn:aws:logs:*:*:log-group:/skiff/team:log-stream:*'],
      },
    ],
  });
  t.match(role.roleTags, { owner: 'skiff', 'skiff:workspace': 'team', project: 'x' });
  t.same(role.profileRoles, ['skiff-agent-team'], 'the instance profile holds the role');

  ins.reset();
  await setupAws(ctx, { workspace: 'team', tags: { project: 'x' } });
  t.same(ins.actions.filter((a) => /^iam:(Create|AddRole)/.test(a)), [], 'a second setup creates no IAM resource');
  t.same((await agentRoleOf('team')).profileRoles, ['skiff-agent-team']);

  ins.reset();
  const s = spec('c-role', 1, { workspace: 'team' });
  await backend.apply(s, await backend.plan(s));
  t.equal(await profileOfCluster('c-role'), 'skiff-agent-team', 'the launch template names the workspace\'s profile');
  t.same(ins.actions.filter((a) => a.startsWith('iam:')), ['iam:GetInstanceProfile'], 'up after setup only reads the profile');
  // (moto does not copy a launch template's profile onto the instances, so the template is what is checked.)
  t.equal((await instancesOf('c-role')).length, 2);

  const own = spec('c-own-profile', 0, { workspace: 'team', instance_profile: 'my-profile' });
  await backend.apply(own, await backend.plan(own));
  t.equal(await profileOfCluster('c-own-profile'), 'my-profile', 'a user-given instance_profile wins');

  await backend.destroy(await backend.plan(s));
  await backend.destroy(await backend.plan(own));
  const deleted = (await deleteNetwork(ctx, 'team')).deleted;
  t.ok(deleted.includes('role/skiff-agent-team') && deleted.includes('instance-profile/skiff-agent-team'), 'network delete reports the role and the profile');
  t.equal((await agentRoleOf('team')).profileRoles, undefined, 'the profile is gone');
});

t.test('up without setup creates the agents\' instance profile; network delete refuses while a cluster of the workspace runs', async (t) => {
  await moto.reset();
  const s = spec('c-no-setup', 1, { workspace: 'fresh' });
  await backend.apply(s, await backend.plan(s));
  t.equal(await profileOfCluster('c-no-setup'), 'skiff-agent-fresh');
  t.same((await agentRoleOf('fresh')).profileRoles, ['skiff-agent-fresh']);
  await t.rejects(deleteNetwork(ctx, 'fresh'), { code: 'PRV_INVALID_REQUEST', message: /live instance.*c-no-setup/ });
  t.same((await agentRoleOf('fresh')).profileRoles, ['skiff-agent-fresh'], 'the refused delete kept the role');
  ins.reset();
  const s2 = spec('c-no-setup-2', 0, { workspace: 'fresh' });
  await backend.apply(s2, await backend.plan(s2));
  t.same(ins.actions.filter((a) => a.startsWith('iam:')), ['iam:GetInstanceProfile'], 'the next up reuses it');
});

t.test('a bring-your-own network is checked and used; skiff creates no network resource in it', async (t) => {
  await moto.reset();
  await setupAws(ctx, { workspace: 'byo-src' });
  const net = (await listSkiffResources(ctx)).filter((r) => r.tags['skiff:workspace'] === 'byo-src');
  const id = (key: string) => net.find((r) => r.tags['skiff:key'] === key)?.id ?? '';
  const probe = await backend.apply(spec('c-sg-src', 0, { workspace: 'byo-src' }), await backend.plan(spec('c-sg-src', 0, { workspace: 'byo-src' })));
  t.equal(probe.length, 1);
  const groups = (await listSkiffResources(ctx)).filter((r) => r.kind === 'security-group');
  ins.reset();
  const byo = {
    workspace: 'mine',
    network_id: id('vpc'),
    scheduler_subnet_id: id('subnet-public-us-east-1a'),
    worker_subnet_id: id('subnet-private-us-east-1a'),
    scheduler_firewall_id: groups[0]?.id,
    firewall_id: groups[1]?.id,
  };
  const s = spec('c-byo', 2, byo);
  const machines = await backend.apply(s, await backend.plan(s));
  t.equal(machines.length, 3);
  t.same(ins.actions.filter((a) => /ec2:Create(Vpc|Subnet|InternetGateway|RouteTable|Route|NatGateway|SecurityGroup)$/.test(a)), [], 'no network or group created');
  await t.rejects(backend.apply(s, await backend.plan({ ...s, options: { ...byo, worker_subnet_id: 'subnet-0123456789abcdef0' } })), {
    code: 'PRV_INVALID_REQUEST',
    message: /subnet-0123456789abcdef0/,
  }, 'a BYO subnet that does not exist is refused by name');
});

t.test('every EC2 and CloudWatch Logs action called above is in the printed policy documents', async (t) => {
  const allowed = allowedActions(setupPolicy(), ongoingPolicy());
  const called = [...new Set(allCalls)].sort();
  t.ok(called.length > 20, `${called.length} distinct actions were recorded`);
  t.same(called.filter((a) => !allowed.has(a)), [], 'no action outside the policies');
});
