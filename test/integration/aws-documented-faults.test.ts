// What AWS answers and moto does not, put in front of moto by the fault proxy (test/helpers/aws-fault-proxy.ts)
// with AWS's documented codes and messages: teardown's DependencyViolation that clears after a while, and the
// launch template version a scaling step bases its new version on.
import t from 'tap';
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient } from '@aws-sdk/client-iam';
import { startMoto } from '../helpers/moto.js';
import { startAwsFaultProxy } from '../helpers/aws-fault-proxy.js';
import { awsTestDeps, awsTestSpec, useTestImagesInMoto } from '../helpers/aws.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { listSkiffResources } from '../../provisioner/aws/inventory.js';
import { deleteNetwork } from '../../provisioner/aws/network-delete.js';
import { DEPENDENCY_ATTEMPTS } from '../../provisioner/aws/teardown.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const proxy = await startAwsFaultProxy({ upstream: moto.endpoint });
t.teardown(() => proxy.stop());
const viaProxy = { ...moto.clientConfig, endpoint: proxy.endpoint, maxAttempts: 1 };
const port = createSdkPort({ ec2: new EC2Client(viaProxy), logs: new CloudWatchLogsClient(viaProxy), iam: new IAMClient(viaProxy) });
const sleeps: number[] = [];
const deps = { ...awsTestDeps(port), sleep: (ms: number) => (sleeps.push(ms), Promise.resolve()) };
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
