// The aws backend against a real moto server (with skiff's images, test/helpers/aws.ts) and the Service Quotas
// stand-in, driven by the real @aws-sdk clients: topology, public IP, firewall, tags, network reuse; workers
// spread over every zone and carrying the cluster group; down, gc, network delete; and every action called is
// in the policy documents.
import t from 'tap';
import {
  EC2Client,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  type Instance,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  type CreateFleetCommandInput,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { IAMClient, CreateInstanceProfileCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, ListPoliciesCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { spawn } from 'node:child_process';
import { startMoto } from '../helpers/moto.js';
import { awsTestDeps, awsTestSpec, groupsOf, TEST_IMAGES, useTestImagesInMoto, withEc2FleetGroups } from '../helpers/aws.js';
import { startServiceQuotas } from '../helpers/service-quotas.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { countByKind, listSkiffResources } from '../../provisioner/aws/inventory.js';
import { collectGarbage } from '../../provisioner/aws/gc.js';
import { deleteNetwork } from '../../provisioner/aws/network-delete.js';
import { setupAws } from '../../provisioner/aws/setup.js';
import { createPortCache } from '../../provisioner/aws/sdk-clients.js';
import { allowedActions, ongoingPolicy, setupPolicy } from '../../provisioner/aws/policies.js';
import type { ClusterPlan, ClusterSpec, MachinePlan } from '../../provisioner/backend.js';
import { createIdentitySigner, isoSeconds, jacksonJson } from '../sim/identity.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const quotas = await startServiceQuotas({ quotas: { 'L-1216C47A': 256, 'L-34B43A08': 256, 'L-DB2E81BA': 64, 'L-3819A6DF': 64, 'L-417A185B': 0, 'L-7212CCBC': 0 } });
t.teardown(() => quotas.stop());
const ec2 = new EC2Client(moto.clientConfig);
const iam = new IAMClient(moto.clientConfig);
const sq = new ServiceQuotasClient({ ...moto.clientConfig, endpoint: quotas.endpoint });
const ins = instrumentPort(createSdkPort({ ec2, logs: new CloudWatchLogsClient(moto.clientConfig), iam, quotas: sq }));
// moto's CreateFleet drops the launch template's groups whatever their place; this puts back what EC2 does.
const deps = awsTestDeps(withEc2FleetGroups(ins.port, ec2));
const backend = createAwsBackend(deps);
const ctx = makeContext(deps, 'us-east-1');
const allCalls: string[] = [];
t.afterEach(() => {
  allCalls.push(...ins.actions);
  ins.reset();
});

// What a machine proves itself with: its identity document, signed by a test key the attesting backend trusts
// (as the simulator's IMDS signs them), with the fields EC2 has for the instance.
const signer = createIdentitySigner();
const attesting = createAwsBackend({ ...deps, identityTestCertPem: signer.certPem });
async function identityOf(instanceId: string): Promise<{ document: string; signature: string }> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [instanceId] }] })).catch(() => undefined);
  const r = out?.Reservations?.[0];
  const inst = r?.Instances?.[0];
  const document = jacksonJson([['accountId', r?.OwnerId ?? ''], ['instanceId', instanceId], ['pendingTime', isoSeconds(inst?.LaunchTime ?? new Date())], ['region', 'us-east-1']]);
  return { document, signature: signer.signature(document) };
}
const attest = async (plan: ClusterPlan, instanceId: string) => attesting.attest(plan, instanceId, { launchedAfter: new Date(Date.now() - 3600_000), identity: await identityOf(instanceId) });
/** apply as the broker calls it: the machines each launch call returned go on the plan (the cluster's record). */
async function applyRecorded(s: ClusterSpec, plan: ClusterPlan) {
  const launched: MachinePlan[] = [];
  const machines = await backend.apply(s, plan, { launched: (ms) => Promise.resolve(void launched.push(...ms)) });
  return { machines, plan: { ...plan, machines: launched } };
}

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

/** A cluster's agent role as IAM has it: trust, inline policy, boundary, profile, tags; undefined parts are missing. */
async function agentRoleOf(workspace: string, clusterId: string) {
  const name = `skiff-agent-${workspace}-${clusterId}`;
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
    boundary: role?.PermissionsBoundary?.PermissionsBoundaryArn,
    roleTags: Object.fromEntries((role?.Tags ?? []).map((x): [string, string] => [x.Key ?? '', x.Value ?? ''])),
    profileRoles: profile ? (profile.Roles ?? []).map((r) => r.RoleName) : undefined,
  };
}

/** The ARN of the workspace's permissions boundary, if IAM has it. */
async function boundaryOf(workspace: string): Promise<string | undefined> {
  const out = await iam.send(new ListPoliciesCommand({ Scope: 'Local', PathPrefix: '/skiff/' }));
  return out.Policies?.find((p) => p.PolicyName === `skiff-agent-boundary-${workspace}`)?.Arn;
}

async function defaultRouteOf(subnetId: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }));
  const route = out.RouteTables?.[0]?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
  return route?.GatewayId ?? route?.NatGatewayId;
}

t.test('up with 3 workers: scheduler public behind the internet gateway, workers private behind NAT, firewall as asked, all tagged', async (t) => {
  await moto.reset();
  const s = spec('c-one', 3);
  const { machines, plan } = await applyRecorded(s, await backend.plan(s));
  t.equal(machines.length, 4);
  t.same(plan.machines.map((m) => m.role).sort(), ['scheduler', 'worker', 'worker', 'worker'], 'every instance launched is on record, told as RunInstances and CreateFleet returned it');
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
      t.equal(groupsOf(i).length, 2, 'the scheduler carries its two groups');
      const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupsOf(i) }));
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
  t.match(await attest(plan, sched?.id ?? ''), { id: sched?.id, role: 'scheduler' }, 'attest accepts the cluster scheduler');

  // A second cluster reuses the network: no network resource is created again.
  ins.reset();
  const s2 = spec('c-two', 2);
  const { plan: plan2 } = await applyRecorded(s2, await backend.plan(s2));
  const creates = ins.actions.filter((a) => /Create(Vpc|Subnet|InternetGateway|RouteTable|Route|NatGateway)$|AllocateAddress|AttachInternetGateway|AssociateRouteTable/.test(a));
  t.same(creates, [], 'the second cluster creates no network resource');
  const after = countByKind(await listSkiffResources(ctx));
  t.match(after, { vpc: 1, subnet: 12, 'nat-gateway': 1, 'security-group': 4, 'launch-template': 2, instance: 7 });
  t.equal(await attest(plan2, sched?.id ?? ''), undefined, 'an instance of another cluster does not attest');
  t.equal(await attest(plan, 'i-00000000'), undefined, 'an unknown instance does not attest');
});

t.test('an instance skiff did not launch does not attest, though it carries the cluster\'s tags, came from its launch template and holds a signed document', async (t) => {
  await moto.reset();
  const s = spec('c-guard', 1);
  const { plan, machines } = await applyRecorded(s, await backend.plan(s));
  const worker = machines.find((m) => m.role === 'worker');
  t.match(await attest(plan, worker?.id ?? ''), { id: worker?.id, role: 'worker' }, 'the worker skiff launched attests');
  const tags = [{ Key: 'owner', Value: 'skiff' }, { Key: 'skiff:workspace', Value: 'default' }, { Key: 'skiff:cluster', Value: 'c-guard' }, { Key: 'skiff:role', Value: 'worker' }];
  // An account insider with RunInstances and CreateTags: the cluster's own launch template (its image, group,
  // profile and the current worker enrol token), the cluster's tags.
  const fromTemplate = await ec2.send(new RunInstancesCommand({
    MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateName: 'skiff-c-guard', Version: '$Latest' }, TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
  }));
  const rogue = fromTemplate.Instances?.[0]?.InstanceId ?? '';
  const listed = await instancesOf('c-guard');
  t.ok(listed.some((i) => i.InstanceId === rogue), 'moto lists the rogue instance among the cluster\'s by its tags');
  t.ok(listed.find((i) => i.InstanceId === rogue)?.Tags?.some((x) => x.Key === 'aws:ec2launchtemplate:id'), 'and EC2 (moto) tagged it with the cluster\'s template');
  t.equal(await attest(plan, rogue), undefined, 'it does not attest: its id is not one a launch call returned to skiff');
  // A plain RunInstances with the image and tags: the same.
  const plain = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, ImageId: listed[0]?.ImageId ?? '', InstanceType: 'm6i.large', TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] }));
  t.equal(await attest(plan, plain.Instances?.[0]?.InstanceId ?? ''), undefined, 'nor does one launched without the template');

  // The tags EC2 writes are checked too: even on record, a worker from another cluster's template is refused.
  const o = spec('c-other', 0);
  const otherPlan = await applyRecorded(o, await backend.plan(o));
  const foreign = await ec2.send(new RunInstancesCommand({
    MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateName: 'skiff-c-other', Version: '$Latest' }, TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
  }));
  const foreignId = foreign.Instances?.[0]?.InstanceId ?? '';
  t.equal(await attest({ ...plan, machines: [...plan.machines, { id: foreignId, role: 'worker', name: foreignId }] }, foreignId), undefined, 'aws:ec2launchtemplate:id must be the cluster\'s template');
  const schedulerTags = tags.map((x) => (x.Key === 'skiff:role' ? { Key: x.Key, Value: 'scheduler' } : x));
  const asScheduler = await ec2.send(new RunInstancesCommand({
    MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateName: 'skiff-c-guard', Version: '$Latest' }, TagSpecifications: [{ ResourceType: 'instance', Tags: schedulerTags }],
  }));
  const schedRogue = asScheduler.Instances?.[0]?.InstanceId ?? '';
  t.equal(await attest({ ...plan, machines: [...plan.machines, { id: schedRogue, role: 'scheduler', name: 'scheduler' }] }, schedRogue), undefined, 'a scheduler from a launch template is not one skiff launched');
  await backend.destroy(plan);
  await backend.destroy(otherPlan.plan);
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
  t.same(await agentRoleOf('default', 'c-down'), { trust: undefined, policy: undefined, boundary: undefined, roleTags: {}, profileRoles: undefined }, "down removed the cluster's agent role and instance profile");
  t.ok(await boundaryOf('default'), "and kept the workspace's boundary, like the network");
  await deleteNetwork(ctx, 'default');
  t.same(await listSkiffResources(ctx), [], 'network delete leaves nothing');
  t.equal(await boundaryOf('default'), undefined, 'network delete removed the boundary');
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
  t.same(found.map((f) => f.kind).sort(), ['agent-role', 'instance', 'instance', 'launch-template', 'security-group', 'security-group']);
  t.equal((await instancesOf('c-dead')).length, 2, 'listing alone removes nothing');
  await collectGarbage(ctx, { liveClusterIds: ['c-live'], confirm: true });
  t.equal((await instancesOf('c-dead')).length, 0);
  t.equal((await agentRoleOf('default', 'c-dead')).profileRoles, undefined, "the dead cluster's agent role and profile are gone");
  t.equal((await instancesOf('c-live')).length, 2, 'the live cluster is untouched');
  t.same((await agentRoleOf('default', 'c-live')).profileRoles, ['skiff-agent-default-c-live'], 'its role too');
  t.same(await collectGarbage(ctx, { liveClusterIds: ['c-live'], confirm: false }), []);
  await t.rejects(deleteNetwork(ctx, 'default'), { code: 'PRV_INVALID_REQUEST', message: /live instance.*c-live/ }, 'network delete refuses while a cluster runs');
});

t.test('setup checks permissions with DryRun and creates the network and log group ahead of time', async (t) => {
  await moto.reset();
  const report = await setupAws(ctx, { workspace: 'default' });
  t.same(report.permissions.map((p) => p.result), report.permissions.map(() => 'allowed'));
  t.same(report.warnings, []);
  t.equal(report.logGroup, '/skiff/default');
  t.same(report.zones, ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'], 'zones as DescribeAvailabilityZones gives them');
  t.same(
    report.quotas.map((q) => [q.code, q.vcpus, q.usedVcpus]),
    [['L-1216C47A', 256, 0], ['L-34B43A08', 256, 0], ['L-DB2E81BA', 64, 0], ['L-3819A6DF', 64, 0], ['L-417A185B', 0, 0], ['L-7212CCBC', 0, 0]],
    'setup reports the vCPU quotas it read',
  );
  t.match(countByKind(await listSkiffResources(ctx)), { vpc: 1, subnet: 12, 'nat-gateway': 1 });
  ins.reset();
  const s = spec('c-after-setup', 1);
  await backend.apply(s, await backend.plan(s));
  t.notOk(ins.actions.includes('ec2:CreateVpc'), 'up after setup reuses the network');
});

t.test("setup creates the workspace's permissions boundary once; each cluster launches with a role of its own, bounded by it, that writes only to its own streams", async (t) => {
  await moto.reset();
  const report = await setupAws(ctx, { workspace: 'team', tags: { project: 'x' } });
  t.match(report.agentBoundary, /^arn:aws:iam::\d{12}:policy\/skiff\/skiff-agent-boundary-team$/);
  t.equal(await boundaryOf('team'), report.agentBoundary);
  ins.reset();
  await setupAws(ctx, { workspace: 'team', tags: { project: 'x' } });
  // (CreateServiceLinkedRole is asked again here only because moto names the Spot role AWSServiceRoleForspot, so
  // GetRole of AWS's name AWSServiceRoleForEC2Spot finds nothing; its answer is "exists", and nothing is created.)
  t.same(ins.actions.filter((a) => /^iam:(Create|AddRole|Put)/.test(a) && a !== 'iam:CreateServiceLinkedRole'), [], 'a second setup creates no IAM resource');

  ins.reset();
  const s = spec('c-role', 1, { workspace: 'team' });
  await backend.apply(s, await backend.plan(s));
  const role = await agentRoleOf('team', 'c-role');
  t.match(role.trust, { Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  t.equal(role.boundary, report.agentBoundary, 'the role carries the workspace boundary');
  t.match(role.policy, {
    Statement: [
      { Sid: 'OwnGroup', Resource: ['arn:aws:logs:*:*:log-group:/skiff/team', 'arn:aws:logs:*:*:log-group:/skiff/team:*'] },
      { Sid: 'OwnStreams', Action: ['logs:PutLogEvents'], Resource: ['arn:aws:logs:*:*:log-group:/skiff/team:log-stream:c-role/*'] },
    ],
  });
  t.notOk(JSON.stringify((role.policy as { Statement: { Sid: string; Action: string[] }[] }).Statement.find((x) => x.Sid === 'OwnGroup')?.Action).includes('PutLogEvents'), 'no write on the whole group');
  t.match(role.roleTags, { owner: 'skiff', 'skiff:workspace': 'team', 'skiff:cluster': 'c-role' });
  t.same(role.profileRoles, ['skiff-agent-team-c-role'], 'the instance profile holds the role');
  t.equal(await profileOfCluster('c-role'), 'skiff-agent-team-c-role', "the launch template names the cluster's own profile");
  t.same(ins.actions.filter((a) => /^iam:Create/.test(a)), ['iam:CreateRole', 'iam:CreateInstanceProfile'], 'up makes the role and the profile, not the boundary');
  // (moto does not copy a launch template's profile onto the instances, so the template is what is checked.)
  t.equal((await instancesOf('c-role')).length, 2);

  const other = spec('c-other', 0, { workspace: 'team' });
  await backend.apply(other, await backend.plan(other));
  t.match((await agentRoleOf('team', 'c-other')).policy, { Statement: [{}, { Resource: ['arn:aws:logs:*:*:log-group:/skiff/team:log-stream:c-other/*'] }] }, 'another cluster writes to its own streams');

  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'my-profile' }));
  const own = spec('c-own-profile', 0, { workspace: 'team', instance_profile: 'my-profile' });
  await backend.apply(own, await backend.plan(own));
  t.equal(await profileOfCluster('c-own-profile'), 'my-profile', 'a user-given instance_profile wins');
  t.equal((await agentRoleOf('team', 'c-own-profile')).profileRoles, undefined, 'and no role is made for it');

  await backend.destroy(await backend.plan(s));
  t.equal((await agentRoleOf('team', 'c-role')).profileRoles, undefined, "down removes the cluster's role and profile");
  t.same((await agentRoleOf('team', 'c-other')).profileRoles, ['skiff-agent-team-c-other'], "and not another cluster's");
  await backend.destroy(await backend.plan(own));
  await backend.destroy(await backend.plan(other));
  const deleted = (await deleteNetwork(ctx, 'team')).deleted;
  t.ok(deleted.includes('policy/skiff/skiff-agent-boundary-team'), 'network delete reports the boundary');
  t.equal(await boundaryOf('team'), undefined, 'the boundary is gone');
  const left = (await iam.send(new ListRolesCommand({}))).Roles?.filter((r) => r.RoleName?.startsWith('skiff-agent-team')) ?? [];
  t.same(left, [], 'no agent role of the workspace is left');
});

t.test('up without setup creates the boundary and the cluster\'s role; network delete refuses while a cluster of the workspace runs', async (t) => {
  await moto.reset();
  const s = spec('c-no-setup', 1, { workspace: 'fresh' });
  await backend.apply(s, await backend.plan(s));
  t.equal(await profileOfCluster('c-no-setup'), 'skiff-agent-fresh-c-no-setup');
  t.ok(await boundaryOf('fresh'), 'the boundary was made on the way');
  await t.rejects(deleteNetwork(ctx, 'fresh'), { code: 'PRV_INVALID_REQUEST', message: /live instance.*c-no-setup/ });
  t.same((await agentRoleOf('fresh', 'c-no-setup')).profileRoles, ['skiff-agent-fresh-c-no-setup'], 'the refused delete kept the role');
  ins.reset();
  const s2 = spec('c-no-setup-2', 0, { workspace: 'fresh' });
  await backend.apply(s2, await backend.plan(s2));
  t.same(ins.actions.filter((a) => a === 'iam:CreatePolicy'), [], 'the next up reuses the boundary');
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
  await t.rejects(backend.plan({ ...s, options: { ...byo, worker_subnet_id: 'subnet-0123456789abcdef0' } }), {
    code: 'PRV_INVALID_REQUEST',
    message: /subnet-0123456789abcdef0/,
  }, 'a BYO subnet that does not exist is refused by plan(), by name');
});

t.test('workers spread over every zone: the fleet lists one worker subnet per zone, each a private subnet of its zone', async (t) => {
  await moto.reset();
  const fleets: CreateFleetCommandInput[] = [];
  const recording = createAwsBackend({ ...deps, portFor: () => ({ ...deps.portFor(), createFleet: (input) => (fleets.push(input), deps.portFor().createFleet(input)) }) });
  const s = spec('c-zones', 2);
  const plan = await recording.plan(s);
  await recording.apply(s, plan);
  const overrides = fleets[0]?.LaunchTemplateConfigs?.[0]?.Overrides ?? [];
  const subnetIds = [...new Set(overrides.map((o) => o.SubnetId ?? ''))];
  const subnets = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnetIds }))).Subnets ?? [];
  t.same(subnets.map((x) => x.AvailabilityZone).sort(), ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'], 'one subnet per zone');
  t.ok(subnets.every((x) => x.Tags?.some((g) => g.Key === 'skiff:tier' && g.Value === 'private')), 'all private');
  t.same(overrides.map((o) => `${o.InstanceType}/${o.Priority}`).filter((v, i, a) => a.indexOf(v) === i), ['m6i.xlarge/0', 'm5.xlarge/1'], 'every type in every zone, in the listed order');

  fleets.length = 0;
  const pinned = spec('c-pinned', 1, { zone: 'us-east-1c' });
  await recording.apply(pinned, await recording.plan(pinned));
  const pinnedSubnets = [...new Set((fleets[0]?.LaunchTemplateConfigs?.[0]?.Overrides ?? []).map((o) => o.SubnetId ?? ''))];
  const zonesOfPinned = ((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: pinnedSubnets }))).Subnets ?? []).map((x) => x.AvailabilityZone);
  t.same(zonesOfPinned, ['us-east-1c'], 'a pinned zone keeps the workers in it');
  const sched = (await instancesOf('c-pinned')).find((i) => i.Tags?.some((g) => g.Key === 'skiff:role' && g.Value === 'scheduler'));
  t.equal(sched?.Placement?.AvailabilityZone, 'us-east-1c', 'and the scheduler too');
});

t.test('workers carry the cluster security group: it is on the launch template, not on a network interface a subnet override drops', async (t) => {
  await moto.reset();
  const s = spec('c-groups', 2, { give_workers_public_ip: true });
  const plan = await backend.plan(s);
  await backend.apply(s, plan);
  const lt = (await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'skiff-c-groups', Versions: ['$Latest'] }))).LaunchTemplateVersions?.[0]?.LaunchTemplateData;
  const cluster = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: ['c-groups'] }, { Name: 'tag:skiff:role', Values: ['cluster-sg'] }] }))).SecurityGroups?.[0]?.GroupId;
  t.ok(cluster, 'the cluster group exists');
  t.same(lt?.SecurityGroupIds, [cluster], 'the template names the cluster group at the top level');
  t.equal(lt?.NetworkInterfaces, undefined, 'and has no network interface');
  const workers = (await instancesOf('c-groups')).filter((i) => i.Tags?.some((g) => g.Key === 'skiff:role' && g.Value === 'worker'));
  t.equal(workers.length, 2);
  for (const w of workers) t.ok(groupsOf(w).includes(cluster ?? ''), `${w.InstanceId} is in the cluster group`);
  const subnets = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [...new Set(workers.map((w) => w.SubnetId ?? ''))] }))).Subnets ?? [];
  t.ok(subnets.every((x) => x.MapPublicIpOnLaunch === true), 'give_workers_public_ip workers are in public subnets that assign public IPv4 on launch');
  const sched = (await instancesOf('c-groups')).find((i) => i.Tags?.some((g) => g.Key === 'skiff:role' && g.Value === 'scheduler'));
  t.ok(sched && groupsOf(sched).includes(cluster ?? ''), 'the scheduler is in the cluster group too');
});

t.test('machines carry their instance type and its vCPUs, and the scheduler both its addresses', async (t) => {
  await moto.reset();
  const s = spec('c-vcpus', 2, { scheduler_vm_types: ['m5.large'], worker_vm_types: ['m5.2xlarge'] });
  const plan = await backend.plan(s);
  const machines = await backend.apply(s, plan);
  t.match(machines, [
    { role: 'scheduler', instanceType: 'm5.large', vcpus: 2, privateHost: /^10\./, publicHost: /^\d+\.\d+\.\d+\.\d+$/ },
    { role: 'worker', instanceType: 'm5.2xlarge', vcpus: 8 },
    { role: 'worker', instanceType: 'm5.2xlarge', vcpus: 8 },
  ]);
  t.same(await backend.machines(plan), machines, 'machines() tells the same');
});

t.test('plan() finds the newest Debian 12 image of the publisher for x86_64 and arm64 roles, never a look-alike', async (t) => {
  await moto.reset();
  const p = await backend.plan(spec('c-images', 1, { scheduler_vm_types: ['m6i.large'], worker_vm_types: ['m7g.xlarge'] }));
  const aws = p.detail['aws'] as { images: { scheduler: { imageId: string }; worker: { imageId: string } } };
  t.equal(aws.images.scheduler.imageId, TEST_IMAGES.debianX86.ami_id, 'x86_64 scheduler: debian-12-amd64, newest, not backports nor another owner\'s');
  t.equal(aws.images.worker.imageId, TEST_IMAGES.debianArm.ami_id, 'arm64 workers: debian-12-arm64');
  const gpu = await backend.plan(spec('c-gpu-images', 1, { worker_gpu: 1 }));
  t.equal((gpu.detail['aws'] as typeof aws).images.worker.imageId, TEST_IMAGES.gpuX86.ami_id, 'GPU workers: the DLAMI Ubuntu 24.04 GPU image');
});

t.test('createPortCache reaches moto through AWS_ENDPOINT_URL and Service Quotas through AWS_ENDPOINT_URL_SERVICE_QUOTAS', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });
  Object.assign(process.env, moto.env, { AWS_ENDPOINT_URL_SERVICE_QUOTAS: quotas.endpoint });
  const before = quotas.requests.length;
  const port = createPortCache()('us-west-2');
  const zones = await port.describeAvailabilityZones({});
  t.ok((zones.AvailabilityZones ?? []).some((z) => z.ZoneName === 'us-west-2a'), 'EC2 answered from moto');
  const q = await port.getServiceQuota({ ServiceCode: 'ec2', QuotaCode: 'L-1216C47A' });
  t.equal(q.Quota?.Value, 256, 'Service Quotas answered from the stand-in');
  t.match(quotas.requests.slice(before), [{ action: 'GetServiceQuota', quotaCode: 'L-1216C47A', region: 'us-west-2' }]);
});

t.test('the Service Quotas stand-in runs as a process: it prints its endpoint, answers the SDK, and exits on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/service-quotas-main.ts', '--host', '127.0.0.1', '--port', '0', '--quota', 'L-1216C47A=12', '--error', 'L-34B43A08=AccessDeniedException'], {
    cwd: new URL('../..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('no endpoint within 20 s')), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0] ?? '');
      }
    });
  });
  const { endpoint } = JSON.parse(line) as { endpoint: string };
  const client = new ServiceQuotasClient({ ...moto.clientConfig, endpoint });
  const q = await client.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-1216C47A' }));
  t.match(q.Quota, { ServiceCode: 'ec2', QuotaCode: 'L-1216C47A', QuotaName: 'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances', Value: 12, Unit: 'None', Adjustable: true });
  await t.rejects(client.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-34B43A08' })), { name: 'AccessDeniedException' });
  await t.rejects(client.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-0000000X' })), { name: 'NoSuchResourceException' });
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 on SIGTERM');
});

t.test('every EC2 and CloudWatch Logs action called above is in the printed policy documents', async (t) => {
  const allowed = allowedActions(setupPolicy(), ongoingPolicy());
  const called = [...new Set(allCalls)].sort();
  t.ok(called.length > 20, `${called.length} distinct actions were recorded`);
  t.same(called.filter((a) => !allowed.has(a)), [], 'no action outside the policies');
});
