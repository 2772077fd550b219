import t from 'tap';
import { isSkiffError } from '../../../../broker/api/errors.js';
import { planAwsCluster } from '../../../../provisioner/plan/cluster-plan.js';

const req = (options: Record<string, unknown> = {}, workers = 3) => ({ clusterId: 'c-1', name: 'demo', workers, options });

t.test('scheduler group opens 443 to the firewall CIDR and 22 only to the client /32', async (t) => {
  const p = planAwsCluster(req({ ssh_from: '203.0.113.7', firewall: { ports: [22, 443], cidr: '198.51.100.0/24' } }));
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
  const p = planAwsCluster(req());
  if (p.securityGroups.kind !== 'managed') throw new Error('expected managed groups');
  t.same(p.securityGroups.scheduler.ingress.map((r) => r.fromPort), [443]);
  t.match(p.warnings.join('\n'), /--ssh-from/);
});

t.test('plans a public and a private subnet for every zone of the region', async (t) => {
  const p = planAwsCluster(req({ region: 'us-east-2', zone: 'us-east-2b' }));
  if (p.network.kind !== 'managed') throw new Error('expected managed network');
  t.same(
    p.network.subnets.map((s) => `${s.tier}:${s.zone}:${s.cidr}`),
    [
      'public:us-east-2a:10.0.0.0/19',
      'private:us-east-2a:10.0.128.0/19',
      'public:us-east-2b:10.0.32.0/19',
      'private:us-east-2b:10.0.160.0/19',
      'public:us-east-2c:10.0.64.0/19',
      'private:us-east-2c:10.0.192.0/19',
    ],
  );
  t.equal(p.network.natGateway.zone, 'us-east-2b', 'the NAT gateway goes in the chosen zone');
});

t.test('tags every planned resource with owner, workspace and, for cluster resources, the cluster', async (t) => {
  const p = planAwsCluster(req({ workspace: 'team-a', tags: { project: 'x' } }));
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

t.test('a bring-your-own network plans no network resource and no security group', async (t) => {
  const p = planAwsCluster(
    req({ network_id: 'vpc-12345678', scheduler_subnet_id: 'subnet-12345678', worker_subnet_id: 'subnet-87654321', scheduler_firewall_id: 'sg-12345678', firewall_id: 'sg-87654321' }),
  );
  t.equal(p.network.kind, 'byo');
  t.same(p.securityGroups, { kind: 'byo', schedulerGroupId: 'sg-12345678', clusterGroupId: 'sg-87654321' });
});

t.test('GPU workers look up a GPU-ready image; a named AMI is used as is', async (t) => {
  t.match(planAwsCluster(req({ worker_gpu: 1 })).image, { kind: 'lookup', namePattern: /GPU/ });
  t.match(planAwsCluster(req()).image, { kind: 'lookup', namePattern: /^al2023-ami-/ });
  t.same(planAwsCluster(req({ ami: 'ami-12345678' })).image, { kind: 'named', imageId: 'ami-12345678' });
});

t.test('refuses a bad worker count or cluster id', async (t) => {
  t.throws(() => planAwsCluster(req({}, -1)), { code: 'PRV_INVALID_REQUEST', message: /workers -1/ });
  t.throws(() => planAwsCluster({ clusterId: 'bad id', name: 'x', workers: 1 }), { code: 'PRV_INVALID_REQUEST' });
  try {
    planAwsCluster(req({ worker_gpu: 2 }));
    t.fail('accepted worker_gpu 2');
  } catch (err) {
    t.ok(isSkiffError(err, 'PRV_INVALID_REQUEST'));
  }
});

t.test('the plan holds no enrolment token and survives a JSON round trip', async (t) => {
  const p = planAwsCluster(req({ ssh_from: '203.0.113.7' }));
  t.same(JSON.parse(JSON.stringify(p)), p);
});
