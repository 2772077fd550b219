// What AWS answers and moto does not, put in front of moto by the fault proxy (test/helpers/aws-fault-proxy.ts)
// with AWS's documented codes and messages: teardown's DependencyViolation that clears after a while, the
// launch template version a scaling step bases its new version on, EC2 Fleet not seeing a new instance profile
// yet, a quota whose applied value Service Quotas cannot give, an existing log group's retention, and an opt-in
// region the account has not enabled.
import t from 'tap';
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient, CreateLogGroupCommand, DescribeLogGroupsCommand, PutRetentionPolicyCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { IAMClient } from '@aws-sdk/client-iam';
import { startMoto } from '../helpers/moto.js';
import { startServiceQuotas } from '../helpers/service-quotas.js';
import { startAwsFaultProxy } from '../helpers/aws-fault-proxy.js';
import { awsTestDeps, awsTestSpec, useTestImagesInMoto } from '../helpers/aws.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { listSkiffResources } from '../../provisioner/aws/inventory.js';
import { deleteNetwork } from '../../provisioner/aws/network-delete.js';
import { setupAws } from '../../provisioner/aws/setup.js';
import { DEPENDENCY_ATTEMPTS } from '../../provisioner/aws/teardown.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const proxy = await startAwsFaultProxy({ upstream: moto.endpoint });
t.teardown(() => proxy.stop());
const viaProxy = { ...moto.clientConfig, endpoint: proxy.endpoint, maxAttempts: 1 };
const portIn = (region: string) => {
  const config = { ...viaProxy, region };
  return createSdkPort({ ec2: new EC2Client(config), logs: new CloudWatchLogsClient(config), iam: new IAMClient(viaProxy) });
};
const sleeps: number[] = [];
const deps = { ...awsTestDeps(portIn('us-east-1')), portFor: portIn, sleep: (ms: number) => (sleeps.push(ms), Promise.resolve()) };
const backend = createAwsBackend(deps);
const ctx = makeContext(deps, 'us-east-1');

// EC2's message for a resource something still sits in (the code is documented in
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
const dependency = (kind: string, idParam: string) => (p: URLSearchParams) => `The ${kind} '${p.get(idParam) ?? ''}' has dependencies and cannot be deleted.`;

async function upAndDown(clusterId: string): Promise<void> {
  const s = awsTestSpec(clusterId, 1);
  const plan = await backend.plan(s);
  await backend.apply(s, plan);
  await backend.destroy(plan);
}

t.test('network delete waits out DependencyViolation while a deleted NAT\'s and a terminated instance\'s interfaces linger, then removes everything', async (t) => {
  await moto.reset();
  await upAndDown('c-linger');
  proxy.clear();
  sleeps.length = 0;
  let firstSubnet = '';
  proxy.add({ action: 'DeleteSubnet', times: 3, when: (p) => (firstSubnet ||= p.get('SubnetId') ?? '') === p.get('SubnetId'), code: 'DependencyViolation', message: dependency('subnet', 'SubnetId') });
  proxy.add({ action: 'DetachInternetGateway', times: 2, code: 'DependencyViolation', message: (p) => `Network vpc-${(p.get('VpcId') ?? '').slice(4)} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.` });
  proxy.add({ action: 'DeleteVpc', times: 2, code: 'DependencyViolation', message: dependency('vpc', 'VpcId') });
  await deleteNetwork(ctx, 'default');
  t.same(proxy.records.filter((r) => r.fault).map((r) => r.action), ['DetachInternetGateway', 'DetachInternetGateway', 'DeleteSubnet', 'DeleteSubnet', 'DeleteSubnet', 'DeleteVpc', 'DeleteVpc'], 'each refusal was answered');
  t.same(proxy.records.filter((r) => r.action === 'DeleteSubnet' && r.params.get('SubnetId') === firstSubnet).map((r) => r.status), [400, 400, 400, 200], 'the subnet went on the fourth try');
  t.same(sleeps, [1, 2, 1, 2, 3, 1, 2], 'the backoff grows by pollIntervalMs per refusal, as the cluster teardown\'s does');
  t.same(await listSkiffResources(ctx), [], 'nothing of the network is left');
});

t.test('network delete gives up on a DependencyViolation that never clears after the bounded attempts, naming it', async (t) => {
  await moto.reset();
  await upAndDown('c-stuck');
  proxy.clear();
  proxy.add({ action: 'DeleteVpc', code: 'DependencyViolation', message: dependency('vpc', 'VpcId') });
  await t.rejects(deleteNetwork(ctx, 'default'), { code: 'PRV_CLOUD_ERROR', message: /DeleteVpc failed: DependencyViolation: The vpc 'vpc-[0-9a-f]+' has dependencies/ });
  t.equal(proxy.records.filter((r) => r.action === 'DeleteVpc').length, DEPENDENCY_ATTEMPTS, `${DEPENDENCY_ATTEMPTS} attempts, no more`);
  proxy.clear();
  await deleteNetwork(ctx, 'default');
  t.same(await listSkiffResources(ctx), [], 'a second network delete, once it clears, finishes the job');
});

t.test('a scaling step bases its launch template version on the version number it read, not on $Latest', async (t) => {
  await moto.reset();
  const s = awsTestSpec('c-grow', 1);
  const plan = await backend.plan(s);
  await backend.apply(s, plan);
  proxy.clear();
  await backend.grow(s, plan, 1);
  await backend.grow(s, plan, 1);
  const versions = proxy.records.filter((r) => r.action === 'CreateLaunchTemplateVersion').map((r) => r.params.get('SourceVersion'));
  t.same(versions, ['1', '2'], 'the first step builds on version 1, the next on the version 2 the first made');
  await backend.destroy(plan);
});

// EC2's answer while a new instance profile has not reached it (the same text RunInstances gives).
const PROFILE_REFUSAL = 'Value (skiff-agent-default) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name';

t.test('the workers\' fleet waits while EC2 Fleet cannot see a new instance profile yet (the request refused), then launches', async (t) => {
  await moto.reset();
  proxy.clear();
  proxy.add({ action: 'CreateFleet', times: 2, code: 'InvalidParameterValue', message: PROFILE_REFUSAL });
  const s = awsTestSpec('c-fleet-profile', 2);
  const plan = await backend.plan(s);
  const machines = await backend.apply(s, plan);
  t.equal(machines.filter((m) => m.role === 'worker').length, 2, 'both workers run');
  t.same(proxy.records.filter((r) => r.action === 'CreateFleet').map((r) => r.fault ?? r.status), ['InvalidParameterValue', 'InvalidParameterValue', 200], 'two refusals, then the fleet');
  const tokens = proxy.records.filter((r) => r.action === 'CreateFleet').map((r) => r.params.get('ClientToken'));
  t.equal(new Set(tokens).size, 3, 'a fresh idempotency token per try');
  await backend.destroy(plan);
});

t.test('the workers\' fleet waits while EC2 Fleet reports the new instance profile as invalid in its errors, then launches', async (t) => {
  await moto.reset();
  proxy.clear();
  // An instant fleet answers 200 and lists each launch's error (CreateFleetError: errorCode, errorMessage).
  proxy.add({
    action: 'CreateFleet',
    times: 1,
    code: 'InvalidParameterValue',
    message: PROFILE_REFUSAL,
    body: (p) =>
      '<CreateFleetResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>f0f0f0f0-0000-4000-8000-000000000001</requestId>' +
      '<fleetId>fleet-0f0f0f0f-0000-4000-8000-000000000001</fleetId><errorSet><item><launchTemplateAndOverrides><launchTemplateSpecification>' +
      `<launchTemplateId>${p.get('LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId') ?? ''}</launchTemplateId><version>$Latest</version></launchTemplateSpecification>` +
      `<overrides><instanceType>${p.get('LaunchTemplateConfigs.1.Overrides.1.InstanceType') ?? ''}</instanceType></overrides></launchTemplateAndOverrides>` +
      `<lifecycle>on-demand</lifecycle><errorCode>InvalidParameterValue</errorCode><errorMessage>${PROFILE_REFUSAL}</errorMessage></item></errorSet><fleetInstanceSet/></CreateFleetResponse>`,
  });
  const s = awsTestSpec('c-fleet-profile-errors', 2);
  const plan = await backend.plan(s);
  const machines = await backend.apply(s, plan);
  t.equal(machines.filter((m) => m.role === 'worker').length, 2, 'both workers run');
  t.equal(proxy.records.filter((r) => r.action === 'CreateFleet').length, 2, 'the fleet was asked again');
  await backend.destroy(plan);
});

t.test('a quota Service Quotas has no applied value for is checked against AWS\'s default value (GetAWSDefaultServiceQuota)', async (t) => {
  await moto.reset();
  const standIn = await startServiceQuotas({ quotas: { 'L-1216C47A': 16 } });
  t.teardown(() => standIn.stop());
  const sqProxy = await startAwsFaultProxy({ upstream: standIn.endpoint });
  t.teardown(() => sqProxy.stop());
  // What Service Quotas answers for a quota whose applied value is not available.
  sqProxy.add({ action: 'GetServiceQuota', code: 'NoSuchResourceException', message: 'The request failed because the specified service quota does not exist.' });
  const quotaPort = createSdkPort({
    ec2: new EC2Client(viaProxy),
    logs: new CloudWatchLogsClient(viaProxy),
    iam: new IAMClient(viaProxy),
    quotas: new ServiceQuotasClient({ ...moto.clientConfig, endpoint: sqProxy.endpoint, maxAttempts: 1 }),
  });
  const quotaDeps = { ...deps, portFor: () => quotaPort };
  const quotaBackend = createAwsBackend(quotaDeps);
  // m6i.large scheduler (2) + 4 × m6i.xlarge (4) = 18 vCPUs > the default 16.
  await t.rejects(quotaBackend.plan(awsTestSpec('c-over-default', 4)), { code: 'PRV_INVALID_REQUEST', message: /needs 18 vCPUs of Running On-Demand Standard instances in us-east-1; quota 16/ });
  t.same(standIn.requests.map((r) => `${r.action} ${r.quotaCode}`), ['GetAWSDefaultServiceQuota L-1216C47A'], 'the default was read after the applied value was refused');
  await quotaBackend.plan(awsTestSpec('c-under-default', 3));
  const report = await setupAws(makeContext(quotaDeps, 'us-east-1'), {}, { createNetwork: false });
  t.match(report.quotas, [{ code: 'L-1216C47A', vcpus: 16 }], 'setup shows the default');
  t.ok(report.warnings.some((w) => /L-1216C47A .*applied value could not be read; AWS's default 16/.test(w)), report.warnings.join(' | '));
});

t.test('an existing log group keeps its own retention (or none); a group skiff creates gets the asked retention', async (t) => {
  await moto.reset();
  proxy.clear();
  const logs = new CloudWatchLogsClient(moto.clientConfig);
  await logs.send(new CreateLogGroupCommand({ logGroupName: '/skiff/kept' }));
  await logs.send(new PutRetentionPolicyCommand({ logGroupName: '/skiff/kept', retentionInDays: 7 }));
  await logs.send(new CreateLogGroupCommand({ logGroupName: '/skiff/forever' }));
  const retention = async (name: string) => (await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name }))).logGroups?.find((g) => g.logGroupName === name)?.retentionInDays;
  for (const workspace of ['kept', 'forever', 'fresh']) await setupAws(ctx, { workspace, log_retention_days: 30 }, { createNetwork: false });
  t.equal(await retention('/skiff/kept'), 7, 'the owner\'s 7 days stay');
  t.equal(await retention('/skiff/forever'), undefined, 'a group that never expires still never expires');
  t.equal(await retention('/skiff/fresh'), 30, 'the new group has 30 days');
  t.same(proxy.records.filter((r) => r.action === 'PutRetentionPolicy').map((r) => r.params.get('logGroupName')), ['/skiff/fresh'], 'retention was set on the new group only');
});

t.test('an opt-in region the account has not enabled gets its own error, before anything is made; a refusal elsewhere keeps AWS\'s', async (t) => {
  await moto.reset();
  proxy.clear();
  // EC2's AuthFailure (errors-overview.html) is what every request in a disabled region gets.
  const refused = { action: 'DescribeAvailabilityZones', code: 'AuthFailure', message: 'AWS was not able to validate the provided access credentials' };
  proxy.add({ ...refused, when: (_p, r) => r.region === 'ap-east-1' || r.region === 'us-east-2' });
  const notEnabled = { code: 'PRV_INVALID_REQUEST', message: /region ap-east-1 is an opt-in region that this AWS account has not enabled \(AWS answers AuthFailure there\); enable it .*aws account enable-region --region-name ap-east-1/ };
  await t.rejects(backend.plan(awsTestSpec('c-hk', 1, { region: 'ap-east-1' })), notEnabled, 'up says so');
  await t.rejects(setupAws(makeContext(deps, 'ap-east-1'), { region: 'ap-east-1' }), notEnabled, 'setup says so');
  t.match(proxy.records.filter((r) => r.action === 'DescribeRegions').map((r) => r.params.get('RegionName.1')), ['ap-east-1'], 'asked of an always-enabled region');
  await t.rejects(backend.plan(awsTestSpec('c-ohio', 1, { region: 'us-east-2' })), { code: 'PRV_CLOUD_ERROR', message: /AuthFailure: AWS was not able to validate/ }, 'a region that needs no opt-in keeps AWS\'s answer');
  t.same(proxy.records.filter((r) => /^(Create|Run|Allocate)/.test(r.action)), [], 'nothing was created');
});

// EC2's refusal of a fresh account's first spot request when the requester may not create the Spot service-linked role.
const SPOT_ROLE_REFUSAL = {
  action: 'CreateFleet',
  when: (p: URLSearchParams) => p.get('TargetCapacitySpecification.DefaultTargetCapacityType') === 'spot',
  status: 403,
  code: 'AuthFailure.ServiceLinkedRoleCreationNotPermitted',
  message: 'The provided credentials do not have permission to create the service-linked role for EC2 Spot Instances.',
};

t.test('setup creates the AWSServiceRoleForEC2Spot service-linked role; one that exists already is success', async (t) => {
  await moto.reset();
  proxy.clear();
  const first = await setupAws(ctx, {}, { createNetwork: false });
  t.equal(first.spotRole, 'created');
  t.same(proxy.records.filter((r) => r.action === 'CreateServiceLinkedRole').map((r) => r.params.get('AWSServiceName')), ['spot.amazonaws.com']);
  // IAM's answer for a service-linked role that exists (moto answers another code).
  proxy.add({ action: 'CreateServiceLinkedRole', code: 'InvalidInput', message: 'Service role name AWSServiceRoleForEC2Spot has been taken in this account, please try a different suffix.' });
  const again = await setupAws(ctx, {}, { createNetwork: false });
  t.equal(again.spotRole, 'exists');
  t.notOk(again.warnings.some((w) => /AWSServiceRoleForEC2Spot/.test(w)), 'no warning');
  proxy.clear();
  proxy.add({ action: 'CreateServiceLinkedRole', status: 403, code: 'AccessDenied', message: 'User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:CreateServiceLinkedRole' });
  const denied = await setupAws(ctx, {}, { createNetwork: false });
  t.equal(denied.spotRole, 'not created');
  t.ok(denied.warnings.some((w) => /AWSServiceRoleForEC2Spot service-linked role could not be created \(AccessDenied\); spot workers fail until it exists/.test(w)), denied.warnings.join(' | '));
});

t.test('spot_with_fallback in an account without the Spot role runs its workers on-demand and says so with EC2\'s reason', async (t) => {
  await moto.reset();
  proxy.clear();
  proxy.add(SPOT_ROLE_REFUSAL);
  const notices: string[] = [];
  const progress: string[] = [];
  const s = awsTestSpec('c-fallback-role', 2, { spot_policy: 'spot_with_fallback' });
  const plan = await backend.plan(s);
  const machines = await backend.apply(s, plan, { notice: (m) => notices.push(m), progress: (m) => progress.push(m) });
  t.equal(machines.filter((m) => m.role === 'worker').length, 2, 'both workers run');
  t.same(proxy.records.filter((r) => r.action === 'CreateFleet').map((r) => `${r.params.get('TargetCapacitySpecification.DefaultTargetCapacityType') ?? ''} ${r.status}`), ['spot 403', 'on-demand 200']);
  t.same(notices, ['spot_with_fallback: 2 of 2 workers run on-demand, at on-demand prices; spot gave 0 (any type: AuthFailure.ServiceLinkedRoleCreationNotPermitted) (run skiff setup aws to create the AWSServiceRoleForEC2Spot role)']);
  t.ok(progress.includes(notices[0] ?? '-'), 'the notice is progress too');
  await backend.destroy(plan);
});

t.test('spot_with_fallback that spot fills says nothing; spot only without the Spot role fails saying to run setup', async (t) => {
  await moto.reset();
  proxy.clear();
  const notices: string[] = [];
  const s = awsTestSpec('c-spot-ok', 1, { spot_policy: 'spot_with_fallback' });
  const plan = await backend.plan(s);
  await backend.apply(s, plan, { notice: (m) => notices.push(m) });
  t.same(notices, [], 'all on spot: nothing to tell');
  await backend.destroy(plan);
  proxy.add(SPOT_ROLE_REFUSAL);
  const only = awsTestSpec('c-spot-only', 1, { spot_policy: 'spot' });
  await t.rejects(backend.plan(only).then((p) => backend.apply(only, p)), {
    code: 'PRV_LAUNCH_FAILED',
    message: /spot workers need the account's AWSServiceRoleForEC2Spot service-linked role.*AuthFailure\.ServiceLinkedRoleCreationNotPermitted.*run skiff setup aws once/,
  });
});
