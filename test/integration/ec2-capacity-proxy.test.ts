// The EC2 capacity proxy the simulator's capacity tests put in front of moto: what the real EC2 client reads
// through it, against a real moto server on 127.0.0.1.
import t from 'tap';
import { CreateFleetCommand, CreateLaunchTemplateCommand, CreateSubnetCommand, CreateVpcCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startMoto } from '../helpers/moto.js';
import { startEc2CapacityProxy } from '../helpers/ec2-capacity-proxy.js';
import { TEST_IMAGES } from '../helpers/aws.js';

t.test('instant CreateFleet: types without capacity come back in Errors, the next types in priority order launch', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const proxy = await startEc2CapacityProxy({ upstream: moto.endpoint, capacity: { 'm6i.xlarge': 0, 'm5.large': 1 } });
  t.teardown(() => proxy.stop());
  const ec2 = new EC2Client({ ...moto.clientConfig, endpoint: proxy.endpoint });
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc?.VpcId ?? '', CidrBlock: '10.0.1.0/24' }));
  const SubnetId = subnet.Subnet?.SubnetId ?? '';
  const lt = await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'workers', LaunchTemplateData: { ImageId: TEST_IMAGES.debianX86.ami_id } }));
  const fleet = () =>
    ec2.send(new CreateFleetCommand({
      Type: 'instant',
      LaunchTemplateConfigs: [{
        LaunchTemplateSpecification: { LaunchTemplateId: lt.LaunchTemplate?.LaunchTemplateId ?? '', Version: '$Latest' },
        // Listed out of order: the priorities decide.
        Overrides: [{ InstanceType: 'c5.large', SubnetId, Priority: 2 }, { InstanceType: 'm6i.xlarge', SubnetId, Priority: 0 }, { InstanceType: 'm5.large', SubnetId, Priority: 1 }],
      }],
      TargetCapacitySpecification: { TotalTargetCapacity: 3, DefaultTargetCapacityType: 'on-demand' },
    }));

  const first = await fleet();
  t.match(first.FleetId, /^fleet-/, 'a fleet id (moto\'s)');
  t.same(
    (first.Errors ?? []).map((e) => [e.LaunchTemplateAndOverrides?.Overrides?.InstanceType, e.LaunchTemplateAndOverrides?.Overrides?.SubnetId, e.Lifecycle, e.ErrorCode]),
    [['m6i.xlarge', SubnetId, 'on-demand', 'InsufficientInstanceCapacity'], ['m5.large', SubnetId, 'on-demand', 'InsufficientInstanceCapacity']],
    'm6i.xlarge (none) and m5.large (ran out after one) are in Errors, as EC2 reports them',
  );
  t.match(first.Errors?.[0]?.ErrorMessage, /We currently do not have sufficient m6i\.xlarge capacity/);
  t.same((first.Instances ?? []).map((i) => i.InstanceType).sort(), ['c5.large', 'c5.large', 'm5.large'], 'one m5.large, then c5.large for the rest');

  const second = await fleet();
  t.same((second.Instances ?? []).map((i) => i.InstanceType), ['c5.large', 'c5.large', 'c5.large'], 'm5.large\'s capacity was used up by the first fleet');
  const running = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  t.equal(running.length, 6, 'moto runs exactly what the two answers listed');
  t.same(proxy.records.map((r) => r.action), ['CreateVpc', 'CreateSubnet', 'CreateLaunchTemplate', 'CreateFleet', 'CreateFleet', 'DescribeInstances'], 'every other call passed through, recorded');
});

t.test('a fleet nothing can be given to launches nothing and lists every override in Errors', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const proxy = await startEc2CapacityProxy({ upstream: moto.endpoint, capacity: { 'm6i.xlarge': 0 } });
  t.teardown(() => proxy.stop());
  const ec2 = new EC2Client({ ...moto.clientConfig, endpoint: proxy.endpoint });
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnets = await Promise.all(['10.0.1.0/24', '10.0.2.0/24'].map((CidrBlock) => ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc?.VpcId ?? '', CidrBlock }))));
  const lt = await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'workers', LaunchTemplateData: { ImageId: TEST_IMAGES.debianX86.ami_id } }));
  const out = await ec2.send(new CreateFleetCommand({
    Type: 'instant',
    LaunchTemplateConfigs: [{
      LaunchTemplateSpecification: { LaunchTemplateId: lt.LaunchTemplate?.LaunchTemplateId ?? '', Version: '$Latest' },
      Overrides: subnets.map((s, i) => ({ InstanceType: 'm6i.xlarge', SubnetId: s.Subnet?.SubnetId ?? '', Priority: i })),
    }],
    TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
  }));
  t.match(out.FleetId, /^fleet-/);
  t.same(out.Instances ?? [], [], 'nothing launched');
  t.same((out.Errors ?? []).map((e) => [e.LaunchTemplateAndOverrides?.Overrides?.SubnetId, e.Lifecycle, e.ErrorCode]), subnets.map((s) => [s.Subnet?.SubnetId, 'spot', 'InsufficientInstanceCapacity']), 'one error per override (type × subnet)');
  const running = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  t.equal(running.length, 0, 'moto runs nothing');
});
