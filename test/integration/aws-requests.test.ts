// Must-show 5 (bad input: one clear error, no API call that creates anything), capacity fallbacks
// (next instance type, spot → on-demand, a clear error naming what was tried) and must-show 6 (user-data
// passes shellcheck, carries no key or certificate).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { startMoto } from '../helpers/moto.js';
import { awsTestDeps, awsTestSpec } from '../helpers/aws.js';
import { createSdkPort, type AwsPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { listSkiffResources } from '../../provisioner/aws/inventory.js';
import { buildUserData } from '../../provisioner/plan/user-data.js';
import { SkiffError } from '../../broker/api/errors.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
const raw = createSdkPort({ ec2: new EC2Client(moto.clientConfig), logs: new CloudWatchLogsClient(moto.clientConfig) });
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
    [{ region: 'us-west-2', zone: 'us-east-1a' }, /zone "us-east-1a" is not in region us-west-2; valid zones: us-west-2a/],
    [{ worker_gpu: 2 }, /worker_gpu 2 is not supported: a worker has at most one GPU/],
    [{ firewall: { ports: [443], cidr: '10.0.0/8' } }, /firewall.cidr "10.0.0\/8" is not a valid IPv4 CIDR/],
    [{ firewall: { ports: [70000] } }, /firewall port 70000 is not a port/],
    [{ network_id: 'vpc-12345678', scheduler_subnet_id: 'subnet-12345678', scheduler_firewall_id: 'sg-12345678', firewall_id: 'sg-12345678' }, /missing: worker_subnet_id/],
  ];
  for (const [options, message] of pure) {
    await t.rejects(backend.plan(spec('c-bad', 2, options)), { code: 'PRV_INVALID_REQUEST', message }, JSON.stringify(options));
  }
  t.same(ins.actions, [], 'plan() made no API call at all');

  const s = spec('c-bad-type', 2, { worker_vm_types: ['m5.gigantic'] });
  const plan = await backend.plan(s);
  await t.rejects(backend.apply(s, plan), { code: 'PRV_INVALID_REQUEST', message: /m5\.gigantic/ }, 'an unknown instance type is named');
  t.same(ins.actions.filter((a) => CREATES.test(a)), [], `only reads were made: ${ins.actions.join(', ')}`);

  ins.reset();
  const gpu = spec('c-gpu', 1, { worker_gpu: 1, worker_vm_types: ['g4dn.12xlarge'] });
  await t.rejects(backend.apply(gpu, await backend.plan(gpu)), { code: 'PRV_INVALID_REQUEST', message: /g4dn\.12xlarge has 4 GPUs/ });
  t.same(ins.actions.filter((a) => CREATES.test(a)), [], 'a multi-GPU type is refused before anything is created');
  t.same(await listSkiffResources(ctx), [], 'nothing exists');
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

function denied(action: string): SkiffError {
  const cause = Object.assign(new Error(`User is not authorized to perform: ${action}`), { name: 'AccessDenied' });
  return new SkiffError('PRV_CLOUD_ERROR', `AWS ${action} failed: AccessDenied`, { cause });
}

t.test('up with only the ongoing permissions and no agent profile yet says to run setup, and leaves no cluster resource', async (t) => {
  await moto.reset();
  const backend = createAwsBackend({ ...baseDeps, portFor: () => ({ ...raw, createRole: () => Promise.reject(denied('iam:CreateRole')) }) });
  const s = spec('c-denied', 1, { workspace: 'locked' });
  await t.rejects(backend.apply(s, await backend.plan(s)), {
    code: 'PRV_CLOUD_ERROR',
    message: /instance profile skiff-agent-locked does not exist and these credentials may not create it \(AccessDenied\); run skiff setup aws/,
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
