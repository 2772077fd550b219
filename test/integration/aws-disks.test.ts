// Root volumes against moto: the scheduler and the workers' launch template carry a gp3 root volume of the
// planned size, deleted with its instance; --disk-size (disk_size) sizes the workers'; a scaling step keeps it.
import t from 'tap';
import { DescribeInstancesCommand, DescribeLaunchTemplateVersionsCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient } from '@aws-sdk/client-iam';
import { startMoto } from '../helpers/moto.js';
import { awsTestDeps, awsTestSpec, useTestImagesInMoto } from '../helpers/aws.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { createAwsBackend } from '../../provisioner/aws/aws-backend.js';
import { awsOptions } from '../../broker/cli/aws-flags.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const ec2 = new EC2Client(moto.clientConfig);
const backend = createAwsBackend(awsTestDeps(createSdkPort({ ec2, logs: new CloudWatchLogsClient(moto.clientConfig), iam: new IAMClient(moto.clientConfig) })));

async function templateDisks(name: string) {
  const out = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Latest'] }));
  return out.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.BlockDeviceMappings;
}

async function rootVolumeOf(instanceId: string) {
  const out = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }));
  return out.Volumes?.map((v) => ({ type: v.VolumeType, size: v.Size }));
}

t.test('the scheduler boots on a 20 GiB gp3 root volume and the workers\' template on 50 GiB (m6i.xlarge: 16 + 2 × 16), both deleted on termination', async (t) => {
  await moto.reset();
  const s = awsTestSpec('c-disks', 1);
  const plan = await backend.plan(s);
  const machines = await backend.apply(s, plan);
  const scheduler = machines.find((m) => m.role === 'scheduler');
  t.same(await rootVolumeOf(scheduler?.id ?? ''), [{ type: 'gp3', size: 20 }], 'the scheduler\'s root volume');
  // (moto's CreateFleet gives its instances the image's 8 GiB gp2 whatever the template says, so a worker's own
  // volume is not a check here; EC2 applies the template's mapping, which is checked below.)
  t.same(await templateDisks('skiff-c-disks'), [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 50, VolumeType: 'gp3', DeleteOnTermination: true } }], 'the workers\' launch template');
  const reservations = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [scheduler?.id ?? ''] }))).Reservations ?? [];
  // (moto's DescribeVolumes leaves DeleteOnTermination out of the attachment; DescribeInstances has it.)
  t.same(reservations.flatMap((r) => r.Instances ?? []).flatMap((i) => i.BlockDeviceMappings ?? []).map((b) => [b.DeviceName, b.Ebs?.DeleteOnTermination]), [['/dev/xvda', true]], 'on the image\'s root device, deleted on termination');
  await backend.destroy(plan);
});

t.test('--disk-size sizes the workers\' root volume, and a scaling step\'s new template version keeps it', async (t) => {
  await moto.reset();
  const options = awsOptions({ 'disk-size': 200 }, 'aws') ?? {};
  t.same(options, { disk_size: 200 }, 'the flag becomes the disk_size option');
  const s = awsTestSpec('c-big-disk', 1, options);
  const plan = await backend.plan(s);
  await backend.apply(s, plan);
  const want = [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 200, VolumeType: 'gp3', DeleteOnTermination: true } }];
  t.same(await templateDisks('skiff-c-big-disk'), want, 'the launch template');
  await backend.grow(s, plan, 1);
  t.same(await templateDisks('skiff-c-big-disk'), want, 'the version a scaling step made');
  await backend.destroy(plan);
  await t.rejects(backend.plan(awsTestSpec('c-no-disk', 1, { disk_size: 0 })), { code: 'PRV_INVALID_REQUEST', message: /disk_size 0 must be a whole number of GiB from 1 to 16384/ });
});
