import t from 'tap';
import { isSkiffError } from '../../../../broker/api/errors.js';
import { planAwsCluster, type PlanFacts } from '../../../../provisioner/plan/cluster-plan.js';
import type { InstanceTypeFacts } from '../../../../provisioner/plan/instance-types.js';

const req = (options: Record<string, unknown> = {}, workers = 3) => ({ clusterId: 'c-1', name: 'demo', workers, options });

const TYPES: Record<string, InstanceTypeFacts> = {
  'm6i.large': { vcpus: 2, architecture: 'x86_64', gpus: 0 },
  'm5.large': { vcpus: 2, architecture: 'x86_64', gpus: 0 },
  'm6i.xlarge': { vcpus: 4, architecture: 'x86_64', gpus: 0 },
  'm5.xlarge': { vcpus: 4, architecture: 'x86_64', gpus: 0 },
  'm7g.xlarge': { vcpus: 4, architecture: 'arm64', gpus: 0 },
  'g4dn.xlarge': { vcpus: 4, architecture: 'x86_64', gpus: 1 },
  'g5.xlarge': { vcpus: 4, architecture: 'x86_64', gpus: 1 },
  'g4dn.12xlarge': { vcpus: 48, architecture: 'x86_64', gpus: 4 },
};
const DEBIAN_X86 = { imageId: 'ami-0de12a0000000a002', architecture: 'x86_64' as const, name: 'debian-12-amd64-20251020-2259' };
const DEBIAN_ARM = { imageId: 'ami-0de12a0000000c001', architecture: 'arm64' as const, name: 'debian-12-arm64-20251020-2259' };

const facts = (over: Partial<PlanFacts> = {}): PlanFacts => ({
  zones: ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'],
  instanceTypes: TYPES,
  images: { scheduler: DEBIAN_X86, worker: DEBIAN_X86 },
  quotaLimits: {},
  quotaUsage: {},
  ...over,
});

t.test('scheduler group opens 443 to the firewall CIDR and 22 only to the client /32', async (t) => {
  const p = planAwsCluster(req({ ssh_from: '203.0.113.7', firewall: { ports: [22, 443], cidr: '198.51.100.0/24' } }), facts());
  if (p.securityGroups.kind !== 'managed') throw new Error('expected managed groups');
  const rules = p.securityGroups.scheduler.ingress.map((r) => [r.fromPort, 'cidr' in r.source ? r.source.cidr : 'self']);
  t.same(rules, [
    [22, '203.0.113.7/32'],
    [443, '198.51.100.0/24'],
  ]);
  t.same(p.securityGroups.cluster.ingress.map((r) => [r.protocol, 'self' in r.source]), [['-1', true]]);
  t.same(p.warnings, []);
});

t.test('without the client IP there is no SSH rule and a warning says how to add one', async (t) => {
  const p = planAwsCluster(req(), facts());
  if (p.securityGroups.kind !== 'managed') throw new Error('expected managed groups');
  t.same(p.securityGroups.scheduler.ingress.map((r) => r.fromPort), [443]);
  t.match(p.warnings.join('\n'), /--ssh-from/);
});

t.test('plans a public and a private subnet for every zone the account has in the region', async (t) => {
  const p = planAwsCluster(req({ region: 'us-east-2', zone: 'us-east-2b' }), facts({ zones: ['us-east-2a', 'us-east-2b', 'us-east-2c'] }));
  if (p.network.kind !== 'managed') throw new Error('expected managed network');
  t.same(
    p.network.subnets.map((s) => `${s.tier}:${s.zone}:${s.cidr}`),
    [
      'public:us-east-2a:10.0.0.0/20',
      'private:us-east-2a:10.0.128.0/20',
      'public:us-east-2b:10.0.16.0/20',
      'private:us-east-2b:10.0.144.0/20',
      'public:us-east-2c:10.0.32.0/20',
      'private:us-east-2c:10.0.160.0/20',
    ],
  );
  t.equal(p.network.natGateway.zone, 'us-east-2b', 'the NAT gateway goes in the chosen zone');
  t.equal(p.zone, 'us-east-2b');
  t.same(p.workers.zones, ['us-east-2b'], 'a pinned zone keeps the workers in it');
});

t.test('without a pinned zone the scheduler takes the first available zone and workers may use every zone', async (t) => {
  const p = planAwsCluster(req({ region: 'us-west-1' }), facts({ zones: ['us-west-1b', 'us-west-1c'] }));
  t.equal(p.zone, 'us-west-1b');
  t.same(p.workers.zones, ['us-west-1b', 'us-west-1c']);
  t.same(p.zones, ['us-west-1b', 'us-west-1c']);
});

t.test('a zone the account does not have is refused with the valid ones', async (t) => {
  t.throws(() => planAwsCluster(req({ region: 'us-west-1', zone: 'us-west-1a' }), facts({ zones: ['us-west-1b', 'us-west-1c'] })), {
    code: 'PRV_INVALID_REQUEST',
    message: /zone "us-west-1a" is not available in region us-west-1 for this account; valid zones: us-west-1b, us-west-1c/,
  });
});

t.test('tags every planned resource with owner, workspace and, for cluster resources, the cluster', async (t) => {
  const p = planAwsCluster(req({ workspace: 'team-a', tags: { project: 'x' } }), facts());
  if (p.network.kind !== 'managed' || p.securityGroups.kind !== 'managed') throw new Error('expected managed');
  const network = [p.network.vpc, p.network.internetGateway, p.network.natGateway, p.network.natAddress, p.network.publicRouteTable, p.network.privateRouteTable, ...p.network.subnets];
  for (const r of network) {
    t.match(r.tags, { owner: 'skiff', 'skiff:workspace': 'team-a', project: 'x', Name: `skiff-team-a-${r.key}` }, r.key);
    t.notOk('skiff:cluster' in r.tags, `${r.key} belongs to no cluster`);
  }
  for (const tags of [p.securityGroups.scheduler.tags, p.securityGroups.cluster.tags, p.launchTemplate.tags, p.scheduler.tags, p.workers.tags]) {
    t.match(tags, { owner: 'skiff', 'skiff:workspace': 'team-a', 'skiff:cluster': 'c-1', project: 'x' });
    t.match(tags['Name'], /^skiff-demo-/);
  }
});

t.test('a bring-your-own network plans no network resource and no security group; its subnet gives the zone', async (t) => {
  const byo = { network_id: 'vpc-12345678', scheduler_subnet_id: 'subnet-12345678', worker_subnet_id: 'subnet-87654321', scheduler_firewall_id: 'sg-12345678', firewall_id: 'sg-87654321' };
  const p = planAwsCluster(req(byo), facts({ byo: { zone: 'us-east-1d', workerSubnetAssignsPublicIp: false } }));
  t.equal(p.network.kind, 'byo');
  t.same(p.securityGroups, { kind: 'byo', schedulerGroupId: 'sg-12345678', clusterGroupId: 'sg-87654321' });
  t.equal(p.zone, 'us-east-1d');
  t.throws(() => planAwsCluster(req({ ...byo, give_workers_public_ip: true }), facts({ byo: { zone: 'us-east-1d', workerSubnetAssignsPublicIp: false } })), {
    code: 'PRV_INVALID_REQUEST',
    message: /give_workers_public_ip is true but worker subnet subnet-87654321 does not assign public IPv4 addresses on launch/,
  });
  const auto = planAwsCluster(req(byo), facts({ byo: { zone: 'us-east-1d', workerSubnetAssignsPublicIp: true } }));
  t.match(auto.warnings.join('\n'), /subnet-87654321 assigns public IPv4 addresses on launch/);
});

t.test('stores the facts apply needs: each role\'s image and architecture, each type\'s vCPUs, min_workers', async (t) => {
  const p = planAwsCluster(req({ worker_vm_types: ['m7g.xlarge'], min_workers: 1 }), facts({ images: { scheduler: DEBIAN_X86, worker: DEBIAN_ARM } }));
  t.same(p.images, { scheduler: DEBIAN_X86, worker: DEBIAN_ARM });
  t.equal(p.scheduler.architecture, 'x86_64');
  t.equal(p.workers.architecture, 'arm64', 'the scheduler may differ from the workers');
  t.same(p.instanceTypes, { 'm6i.large': TYPES['m6i.large'], 'm5.large': TYPES['m5.large'], 'm7g.xlarge': TYPES['m7g.xlarge'] });
  t.equal(p.workers.minCount, 1);
  t.equal(planAwsCluster(req(), facts()).workers.minCount, 3, 'min_workers defaults to all');
  t.equal(p.version, 2);
});

t.test('an image of the wrong architecture for a role is refused naming both', async (t) => {
  t.throws(() => planAwsCluster(req({ worker_vm_types: ['m7g.xlarge'], ami: 'ami-0de12a0000000a002' }), facts()), {
    code: 'PRV_INVALID_REQUEST',
    message: /image ami-0de12a0000000a002 \(debian-12-amd64-20251020-2259\) is x86_64 but worker_vm_types m7g\.xlarge are arm64/,
  });
});

t.test('GPU workers need single-GPU types; a request above the vCPU quota is refused with the numbers', async (t) => {
  t.throws(() => planAwsCluster(req({ worker_gpu: 1, worker_vm_types: ['g4dn.12xlarge'] }), facts()), { message: /g4dn\.12xlarge has 4 GPUs/ });
  t.throws(() => planAwsCluster(req({}, 8), facts({ quotaLimits: { 'L-1216C47A': 32 }, quotaUsage: { 'L-1216C47A': 8 } })), {
    code: 'PRV_INVALID_REQUEST',
    message: /needs 34 vCPUs of Running On-Demand Standard instances in us-east-1; quota 32, 8 in use/,
  });
  const p = planAwsCluster(req({}, 2), facts({ quotaLimits: { 'L-1216C47A': 32 }, quotaUsage: { 'L-1216C47A': 8 } }));
  t.same(p.quotas.map((q) => [q.code, q.limitVcpus, q.usedVcpus, q.requestVcpus]), [['L-1216C47A', 32, 8, 10]]);
});

t.test('refuses a bad worker count or cluster id', async (t) => {
  t.throws(() => planAwsCluster(req({}, -1), facts()), { code: 'PRV_INVALID_REQUEST', message: /workers -1/ });
  t.throws(() => planAwsCluster({ clusterId: 'bad id', name: 'x', workers: 1 }, facts()), { code: 'PRV_INVALID_REQUEST' });
  try {
    planAwsCluster(req({ worker_gpu: 2 }), facts());
    t.fail('accepted worker_gpu 2');
  } catch (err) {
    t.ok(isSkiffError(err, 'PRV_INVALID_REQUEST'));
  }
});

t.test('the plan holds no enrolment token and survives a JSON round trip', async (t) => {
  const p = planAwsCluster(req({ ssh_from: '203.0.113.7' }), facts());
  t.same(JSON.parse(JSON.stringify(p)), p);
});
