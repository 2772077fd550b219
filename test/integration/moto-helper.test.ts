import t from 'tap';
import { EC2Client, DescribeRegionsCommand } from '@aws-sdk/client-ec2';
import { startMoto } from '../helpers/moto.js';

t.test('a moto server answers the real EC2 client and stops with the test', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const ec2 = new EC2Client(moto.clientConfig);
  const out = await ec2.send(new DescribeRegionsCommand({}));
  t.ok((out.Regions ?? []).some((r) => r.RegionName === 'us-east-1'), 'us-east-1 is listed');
  await moto.stop();
  await t.rejects(ec2.send(new DescribeRegionsCommand({})), 'nothing answers after stop');
});
