// Requests refused before anything exists (bad input: one clear error and no API call at all; an unknown type,
// a zone the account lacks, mixed architectures, a request above the vCPU quota: refused by plan() with only
// reads made), capacity (next instance type, spot → on-demand, types refused by EC2, a shortfall down to
// min_workers, below it nothing left) and user-data (passes shellcheck, carries no key or certificate).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { CreateFleetCommand, CreateLaunchTemplateCommand, DeleteLaunchTemplateCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { startMoto } from '../helpers/moto.js';
import { awsTestDeps, awsTestSpec, TEST_IMAGES, useTestImagesInMoto } from '../helpers/aws.js';
import { startServiceQuotas } from '../helpers/service-quotas.js';
import { createSdkPort, type AwsPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { listSkiffResources } from '../../provisioner/aws/inventory.js';
import { buildUserData } from '../../provisioner/plan/user-data.js';
import { SkiffError } from '../../broker/api/errors.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const ec2 = new EC2Client(moto.clientConfig);
// Service Quotas from moto: it has no ec2 quotas (NoSuchResourceException), so these plans skip the quota check.
const raw = createSdkPort({ ec2, logs: new CloudWatchLogsClient(moto.clientConfig) });
const baseDeps = awsTestDeps(raw);
const bundle = baseDeps.bundle;
const ctx = makeContext(baseDeps, 'us-east-1');

const spec = awsTestSpec;

const CREATES = /:(Create|Run|Allocate|Attach|Associate|Authorize|Modify|Put)/;

t.test('bad input gives one clear error and makes no API call that creates anything', async (t) => {
  await moto.reset();
  const ins = instrumentPort(raw);
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  const pure: [Record<string, unknown>, RegExp][] = [
    [{ region: 'xx-nowhere-1' }, /region "xx-nowhere-1" is not supported; valid regions: us-east-1/],
    [{ region: 'us-west-2', zone: 'us-east-1a' }, /zone "us-east-1a" is not in region us-west-2; its zones are named us-west-2 and a letter/],
    [{ worker_gpu: 2 }, /worker_gpu 2 is not supported: a worker has at most one GPU/],
    [{ firewall: { ports: [443], cidr: '10.0.0/8' } }, /firewall.cidr "10.0.0\/8" is not a valid IPv4 CIDR/],
    [{ firewall: { ports: [70000] } }, /firewall port 70000 is not a port/],
    [{ network_id: 'vpc-12345678', scheduler_subnet_id: 'subnet-12345678', scheduler_firewall_id: 'sg-12345678', firewall_id: 'sg-12345678' }, /missing: worker_subnet_id/],
  ];
  for (const [options, message] of pure) {
    await t.rejects(backend.plan(spec('c-bad', 2, options)), { code: 'PRV_INVALID_REQUEST', message }, JSON.stringify(options));
  }
  await t.rejects(backend.plan(spec('c-bad', 2, { min_workers: 3 })), { code: 'PRV_INVALID_REQUEST', message: /min_workers 3 is more than the 2 workers/ });
  t.same(ins.actions, [], 'plan() made no API call at all');

  const s = spec('c-bad-type', 2, { worker_vm_types: ['m5.gigantic'] });
  await t.rejects(backend.plan(s), { code: 'PRV_INVALID_REQUEST', message: /instance type\(s\) m5\.gigantic are not offered in us-east-1/ }, 'an unknown instance type is named');
  t.same(ins.actions, ['ec2:DescribeAvailabilityZones', 'ec2:DescribeInstanceTypes'], 'plan() read the zones and the types, nothing else');

  ins.reset();
  const gpu = spec('c-gpu', 1, { worker_gpu: 1, worker_vm_types: ['g4dn.12xlarge'] });
  await t.rejects(backend.plan(gpu), { code: 'PRV_INVALID_REQUEST', message: /g4dn\.12xlarge has 4 GPUs/ });
  t.same(ins.actions.filter((a) => CREATES.test(a)), [], 'a multi-GPU type is refused before anything is created');

  ins.reset();
  const mixed = spec('c-mixed', 2, { worker_vm_types: ['m6i.xlarge', 'm7g.xlarge'] });
  await t.rejects(backend.plan(mixed), { code: 'PRV_INVALID_REQUEST', message: /worker_vm_types mix architectures: m6i\.xlarge \(x86_64\) and m7g\.xlarge \(arm64\)/ });

  ins.reset();
  const wrongAmi = spec('c-wrong-ami', 1, { worker_vm_types: ['m7g.xlarge'], scheduler_vm_types: ['m7g.large'], ami: TEST_IMAGES.al2023X86.ami_id });
  await t.rejects(backend.plan(wrongAmi), { code: 'PRV_INVALID_REQUEST', message: /image ami-0a120230000000a01 .* is x86_64 but scheduler_vm_types m7g\.large are arm64/ }, 'a named ami must match the role\'s architecture');
  await t.rejects(backend.plan(spec('c-no-ami', 1, { ami: 'ami-0123456789abcdef0' })), { code: 'PRV_INVALID_REQUEST', message: /image ami-0123456789abcdef0 does not exist in us-east-1/ });
  t.same(ins.actions.filter((a) => CREATES.test(a)), [], 'only reads were made');
  t.same(await listSkiffResources(ctx), [], 'nothing exists');
});

t.test('a zone the account does not have is refused by plan() with the valid zones, after one read and before anything exists', async (t) => {
  await moto.reset();
  const westConfig = { ...moto.clientConfig, region: 'us-west-1' };
  const ins = instrumentPort(createSdkPort({ ec2: new EC2Client(westConfig), logs: new CloudWatchLogsClient(westConfig) }));
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  await t.rejects(backend.plan(spec('c-zone', 2, { region: 'us-west-1', zone: 'us-west-1c' })), {
    code: 'PRV_INVALID_REQUEST',
    message: 'zone "us-west-1c" is not available in region us-west-1 for this account; valid zones: us-west-1a, us-west-1b',
  });
  t.same(ins.actions, ['ec2:DescribeAvailabilityZones']);
  t.same(await listSkiffResources(makeContext({ ...baseDeps, portFor: () => ins.port }, 'us-west-1')), [], 'nothing exists');
  const ok = await backend.plan(spec('c-zone', 2, { region: 'us-west-1' }));
  t.match(ok.detail['aws'], { zone: 'us-west-1a', zones: ['us-west-1a', 'us-west-1b'], workers: { zones: ['us-west-1a', 'us-west-1b'] } }, 'without a zone: the first, and workers in both');
});

t.test('a request above the vCPU quota is refused before any launch, with the numbers; one that fits goes on', async (t) => {
  await moto.reset();
  const quotas = await startServiceQuotas({ quotas: { 'L-1216C47A': 32, 'L-34B43A08': 4 }, errors: { 'L-DB2E81BA': 'AccessDeniedException' } });
  t.teardown(() => quotas.stop());
  const port = createSdkPort({ ec2, logs: new CloudWatchLogsClient(moto.clientConfig), quotas: new ServiceQuotasClient({ ...moto.clientConfig, endpoint: quotas.endpoint }) });
  const ins = instrumentPort(port);
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  // Someone else's machines in the region: 2 × m6i.xlarge on-demand (8 vCPUs) and 1 × m6i.xlarge spot (4).
  const image = TEST_IMAGES.al2023X86.ami_id;
  const od = await ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: 'm6i.xlarge', MinCount: 2, MaxCount: 2 }));
  const lt = await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'someone-else', LaunchTemplateData: { ImageId: image } }));
  const spot = await ec2.send(
    new CreateFleetCommand({
      Type: 'instant',
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: lt.LaunchTemplate?.LaunchTemplateId, Version: '$Latest' }, Overrides: [{ InstanceType: 'm6i.xlarge' }] }],
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
    }),
  );
  t.teardown(async () => {
    const ids = [...(od.Instances ?? []).map((i) => i.InstanceId ?? ''), ...(spot.Instances ?? []).flatMap((i) => i.InstanceIds ?? [])];
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: 'someone-else' }));
  });

  // m6i.large scheduler (2) + 8 × m6i.xlarge (4) = 34 vCPUs; 32 − 8 in use leaves 24.
  const big = spec('c-big', 8);
  await t.rejects(backend.plan(big), {
    code: 'PRV_INVALID_REQUEST',
    message:
      'the request needs 34 vCPUs of Running On-Demand Standard instances in us-east-1; quota 32, 8 in use; ask AWS for more in Service Quotas (L-1216C47A) or use fewer/smaller workers',
  });
  t.same(ins.actions.filter((a) => /RunInstances|CreateFleet/.test(a) || CREATES.test(a)), [], 'nothing was launched or created');
  t.same(await listSkiffResources(ctx), [], 'no skiff resource exists');
  t.match(quotas.requests, [{ action: 'GetServiceQuota', serviceCode: 'ec2', quotaCode: 'L-1216C47A', region: 'us-east-1' }], 'only the quota the request draws on was read');

  await t.rejects(backend.plan(spec('c-big-spot', 1, { spot_policy: 'spot' })), { message: /needs 6 vCPUs of Running On-Demand Standard instances or All Standard Spot Instance Requests.*All Standard Spot Instance Requests 4 \(4 in use\)/ }, 'spot usage counts against the spot quota');

  const fits = spec('c-fits', 5);
  const plan = await backend.plan(fits);
  t.match(plan.detail['aws'], { quotas: [{ code: 'L-1216C47A', limitVcpus: 32, usedVcpus: 8, requestVcpus: 22 }] }, '2 + 5 × 4 = 22 ≤ 24 fits');
  const partly = await backend.plan(spec('c-partly', 8, { min_workers: 4 }));
  t.match((partly.detail['aws'] as { warnings: string[] }).warnings, [/room for only 5 of 8 workers/], 'above the quota but min_workers fit: a warning, not a refusal');
  const gpu = await backend.plan(spec('c-gpu-unread', 1, { worker_gpu: 1 }));
  t.match(gpu.detail['aws'], { quotas: [{ code: 'L-1216C47A' }] }, 'a quota that cannot be read (AccessDenied) is skipped, not fatal');
});

function withCapacity(port: AwsPort, opts: { spotEmpty: boolean; onDemandEmpty: boolean; schedulerShortTypes: string[] }): AwsPort {
  return {
    ...port,
    runInstances: async (input) => {
      if (opts.schedulerShortTypes.includes(String(input.InstanceType))) {
        const cause = Object.assign(new Error('We currently do not have sufficient capacity'), { name: 'InsufficientInstanceCapacity' });
        throw new SkiffError('PRV_CLOUD_ERROR', 'AWS ec2:RunInstances failed: InsufficientInstanceCapacity', { cause });
      }
      return port.runInstances(input);
    },
    createFleet: async (input) => {
      const spot = input.TargetCapacitySpecification?.DefaultTargetCapacityType === 'spot';
      if ((spot && opts.spotEmpty) || (!spot && opts.onDemandEmpty)) {
        return {
          $metadata: {},
          Instances: [],
          Errors: (input.LaunchTemplateConfigs?.[0]?.Overrides ?? []).map((o) => ({
            ErrorCode: 'InsufficientInstanceCapacity',
            LaunchTemplateAndOverrides: { Overrides: { InstanceType: o.InstanceType } },
          })),
        };
      }
      return port.createFleet(input);
    },
  };
}

t.test('capacity: the scheduler moves to the next type and spot_with_fallback falls back to on-demand', async (t) => {
  await moto.reset();
  const ins = instrumentPort(withCapacity(raw, { spotEmpty: true, onDemandEmpty: false, schedulerShortTypes: ['m6i.large'] }));
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  const s = spec('c-fallback', 3, { spot_policy: 'spot_with_fallback' });
  const machines = await backend.apply(s, await backend.plan(s));
  t.equal(machines.length, 4, 'a scheduler and 3 workers');
  t.equal(ins.actions.filter((a) => a === 'ec2:CreateFleet').length, 2, 'one fleet for spot, one for on-demand');
  t.equal(ins.actions.filter((a) => a === 'ec2:RunInstances').length, 2, 'the scheduler tried its second type');
});

t.test('capacity: when nothing fits, the error names every type and capacity tried and nothing is left', async (t) => {
  await moto.reset();
  const ins = instrumentPort(withCapacity(raw, { spotEmpty: true, onDemandEmpty: true, schedulerShortTypes: [] }));
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  const s = spec('c-nofit', 2, { spot_policy: 'spot_with_fallback', worker_vm_types: ['m6i.xlarge', 'c6i.xlarge'] });
  await t.rejects(backend.apply(s, await backend.plan(s)), {
    code: 'PRV_LAUNCH_FAILED',
    message: /0 of 2 workers .*spot \[m6i\.xlarge, c6i\.xlarge\] \(m6i\.xlarge: InsufficientInstanceCapacity; c6i\.xlarge: InsufficientInstanceCapacity\), then on-demand/,
  });
  const left = (await listSkiffResources(ctx)).filter((r) => r.tags['skiff:cluster'] === 'c-nofit');
  t.same(left, [], 'the scheduler and the cluster resources were removed');
});

async function clusterLeftovers(clusterId: string) {
  return (await listSkiffResources(ctx)).filter((r) => r.tags['skiff:cluster'] === clusterId).map((r) => r.kind);
}

t.test('capacity: with some worker types refused by EC2 (InsufficientInstanceCapacity, VcpuLimitExceeded) the cluster launches on the others', async (t) => {
  await moto.reset();
  const ins = instrumentPort(raw);
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  ins.limitCapacity('m6i.xlarge', 0, 'InsufficientInstanceCapacity');
  ins.limitCapacity('c6i.xlarge', 0, 'VcpuLimitExceeded');
  const progress: string[] = [];
  const s = spec('c-others', 3, { worker_vm_types: ['m6i.xlarge', 'c6i.xlarge', 'm5.xlarge'] });
  const machines = await backend.apply(s, await backend.plan(s), { progress: (m) => progress.push(m) });
  t.same(machines.filter((m) => m.role === 'worker').map((m) => m.instanceType), ['m5.xlarge', 'm5.xlarge', 'm5.xlarge'], 'all three on the type EC2 had');
  t.equal(ins.actions.filter((a) => a === 'ec2:CreateFleet').length, 1, 'one fleet request: EC2 moved on by itself');
  t.notOk(progress.some((p) => /launched \d+ of/.test(p)), 'nothing missing, no shortfall reported');
  ins.reset();
  ins.limitCapacity('m6i.large', 0, 'VcpuLimitExceeded');
  const sched = spec('c-sched', 0);
  const only = await backend.apply(sched, await backend.plan(sched));
  t.match(only, [{ role: 'scheduler', instanceType: 'm5.large' }], 'VcpuLimitExceeded moves the scheduler to its next type');
});

t.test('capacity: fewer workers than asked but at least min_workers: the cluster runs with them and says what is missing and why', async (t) => {
  await moto.reset();
  const ins = instrumentPort(raw);
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  ins.limitCapacity('m6i.xlarge', 2, 'InsufficientInstanceCapacity');
  ins.limitCapacity('m5.xlarge', 0, 'VcpuLimitExceeded');
  const progress: string[] = [];
  const s = spec('c-short', 3, { min_workers: 2 });
  const machines = await backend.apply(s, await backend.plan(s), { progress: (m) => progress.push(m) });
  t.equal(machines.filter((m) => m.role === 'worker').length, 2, 'two workers run');
  t.equal(machines.filter((m) => m.role === 'scheduler').length, 1);
  t.ok(progress.includes('launched 2 of 3 workers; m6i.xlarge: InsufficientInstanceCapacity; m5.xlarge: VcpuLimitExceeded'), progress.join(' | '));
  t.match(await clusterLeftovers('c-short'), ['security-group', 'security-group', 'launch-template', 'instance', 'instance', 'instance'], 'the cluster stays');
});

t.test('capacity: fewer than min_workers fails with PRV_LAUNCH_FAILED and leaves nothing of the cluster', async (t) => {
  await moto.reset();
  const ins = instrumentPort(raw);
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  ins.limitCapacity('m6i.xlarge', 1, 'InsufficientInstanceCapacity');
  ins.limitCapacity('m5.xlarge', 0, 'InsufficientInstanceCapacity');
  const s = spec('c-below-min', 3, { min_workers: 2 });
  await t.rejects(backend.apply(s, await backend.plan(s)), {
    code: 'PRV_LAUNCH_FAILED',
    message: /only 1 of 3 workers could be launched in 6 zones \(min_workers 2\); tried on-demand \[m6i\.xlarge, m5\.xlarge\] \(m6i\.xlarge: InsufficientInstanceCapacity; m5\.xlarge: InsufficientInstanceCapacity\)/,
  });
  t.same(await clusterLeftovers('c-below-min'), [], 'no instance, launch template or security group of the cluster is left');
  const live = (await listSkiffResources(ctx)).filter((r) => r.kind === 'instance');
  t.same(live, [], 'DescribeInstances shows no live skiff instance');
});

function denied(action: string): SkiffError {
  const cause = Object.assign(new Error(`User is not authorized to perform: ${action}`), { name: 'AccessDenied' });
  return new SkiffError('PRV_CLOUD_ERROR', `AWS ${action} failed: AccessDenied`, { cause });
}

t.test('up with credentials that may not create the cluster\'s agent role says what to attach, and leaves no cluster resource', async (t) => {
  await moto.reset();
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ({ ...raw, createRole: () => Promise.reject(denied('iam:CreateRole')) }) });
  const s = spec('c-denied', 1, { workspace: 'locked' });
  await t.rejects(backend.apply(s, await backend.plan(s)), {
    code: 'PRV_CLOUD_ERROR',
    message: /these credentials may not create the cluster's agent role skiff-agent-locked-c-denied \(AccessDenied\); attach the "ongoing" policy printed by skiff policy aws/,
  });
  t.same((await listSkiffResources(ctx)).filter((r) => r.tags['skiff:cluster'] === 'c-denied'), [], 'nothing of the cluster is left');
});

t.test('the scheduler launch waits while EC2 cannot see a new instance profile yet, then succeeds', async (t) => {
  await moto.reset();
  let refusals = 2;
  const ins = instrumentPort({
    ...raw,
    runInstances: async (input) => {
      if (refusals-- > 0) {
        const msg = 'Value (skiff-agent-default) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name';
        throw new SkiffError('PRV_CLOUD_ERROR', `AWS ec2:RunInstances failed: InvalidParameterValue: ${msg}`, { cause: Object.assign(new Error(msg), { name: 'InvalidParameterValue' }) });
      }
      return raw.runInstances(input);
    },
  });
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ins.port });
  const s = spec('c-propagation', 1);
  const machines = await backend.apply(s, await backend.plan(s));
  t.equal(machines.filter((m) => m.role === 'scheduler').length, 1, 'the scheduler runs');
  t.equal(ins.actions.filter((a) => a === 'ec2:RunInstances').length, 3, 'two refusals, then the launch');
});

t.test('user-data passes shellcheck and carries no key or certificate', async (t) => {
  const script = buildUserData({ brokerUrl: 'https://broker.example.com:8443', enrolToken: 'eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJlbnJvbCJ9.c2ln', bundle });
  const r = spawnSync('/usr/bin/shellcheck', ['--shell=bash', '--severity=style', '-'], { input: script, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.error, undefined, 'shellcheck ran');
  t.equal(r.status, 0, r.stdout || 'shellcheck is clean');
  t.notMatch(script, /-----BEGIN|PRIVATE KEY|CERTIFICATE/);
});
