// `skiff setup aws` deploying the workspace's broker, against moto through the real SDK clients: every resource
// made and tagged, a second run making nothing, the record pointing at the Elastic IP with the CA in the secret,
// the first admin being who ran setup, the instance's user-data holding no secret, every action called in the
// policy documents, bad input refused before anything exists, a run failing halfway resumed by the next, and
// teardown leaving nothing.
import t from 'tap';
import { DescribeAddressesCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateAccessKeyCommand, CreateUserCommand, GetInstanceProfileCommand, GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetBucketTaggingCommand, GetObjectCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeContinuousBackupsCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { brokerDeployDeps } from '../../broker/cli/broker-deploy-deps.js';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome } from '../helpers/skiff.js';
import { pino } from 'pino';
import { startMoto } from '../helpers/moto.js';
import { groupsOf, useTestImagesInMoto } from '../helpers/aws.js';
import { createSdkPort, dynamoClientLike, wrapAwsError } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { makeContext } from '../../provisioner/aws/aws-backend.js';
import { setupAws } from '../../provisioner/aws/setup.js';
import { deployBroker, prepareBrokerDeploy, type BrokerDeployInput } from '../../provisioner/aws/broker-deploy.js';
import { teardownAws } from '../../provisioner/aws/broker-teardown.js';
import { packBrokerBundle } from '../../provisioner/aws/broker-bundle.js';
import { allowedActions, ongoingPolicy, setupPolicy } from '../../provisioner/aws/policies.js';
import { openDynamoStore } from '../../broker/store/dynamo-store.js';
import { parseDeployedBrokerParameter } from '../../broker/api/deployed-broker.js';
import { isSkiffError } from '../../broker/api/errors.js';
import type { NetworkIds } from '../../provisioner/aws/network-apply.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const WS = 'brk';
const REGION = moto.clientConfig.region;

// Who runs setup: an IAM user of the account (moto's default keys name no kind of caller skiff accepts).
const iamAdmin = new IAMClient(moto.clientConfig);
const user = (await iamAdmin.send(new CreateUserCommand({ UserName: 'setup-admin' }))).User;
const access = (await iamAdmin.send(new CreateAccessKeyCommand({ UserName: 'setup-admin' }))).AccessKey;
const cfg = { ...moto.clientConfig, credentials: { accessKeyId: access?.AccessKeyId ?? '', secretAccessKey: access?.SecretAccessKey ?? '' } };
const ec2 = new EC2Client(cfg);
const iam = new IAMClient(cfg);
const raw = createSdkPort({ ec2, logs: new CloudWatchLogsClient(cfg), iam });
const ins = instrumentPort(raw);
const dynamo = dynamoClientLike(ec2);
const deps = brokerDeployDeps(dynamo);
// Built once: packing is reproducible, so every run here uploads (or finds) the same object.
const bundle = packBrokerBundle();

const ctx = () => makeContext({ portFor: () => ins.port, log: pino({ level: 'silent' }), sleep: () => Promise.resolve(), pollIntervalMs: 1, waitTimeoutMs: 30_000 }, REGION);
const input: BrokerDeployInput = { workspace: WS, region: REGION, vmType: 't4g.small', cidr: '0.0.0.0/0', bundle, s3Endpoint: moto.endpoint };

async function setupAndDeploy(over: Partial<BrokerDeployInput> = {}) {
  const c = ctx();
  const prepared = await prepareBrokerDeploy(c, { ...input, ...over }, deps);
  const report = await setupAws(c, { region: REGION, workspace: WS });
  const from = ins.actions.length;
  const deployed = await deployBroker(c, prepared, report.network as NetworkIds, deps);
  return { ...deployed, deployActions: ins.actions.slice(from) };
}

const skiffTags = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).map((x) => [x.Key ?? '', x.Value ?? '']));

t.test('bad input is refused before anything exists, naming the input', async (t) => {
  ins.reset();
  for (const [over, message] of [
    [{ vmType: 'small' }, /--broker-vm-type "small" is not an EC2 instance type name/],
    [{ cidr: '10.0.0.1/8' }, /--broker-cidr "10.0.0.1\/8" is not an IPv4 CIDR block: host bits are set \(did you mean 10.0.0.0\/8\?\)/],
    [{ vmType: 'zz9.huge' }, /instance type\(s\) .*zz9.huge.* not offered/],
  ] as const) {
    await t.rejects(prepareBrokerDeploy(ctx(), { ...input, ...over }, deps), { message }, JSON.stringify(over));
  }
  t.notOk(ins.actions.some((a) => /:(Create|Put|Allocate|Run|Authorize)/.test(a)), `only reads were made: ${[...new Set(ins.actions)].join(', ')}`);
  t.same((await ec2.send(new DescribeAddressesCommand({}))).Addresses, [], 'no Elastic IP');
});

t.test('a run failing halfway names what exists, and the next run continues', async (t) => {
  ins.reset();
  const c = ctx();
  const prepared = await prepareBrokerDeploy(c, input, deps);
  const report = await setupAws(c, { region: REGION, workspace: WS });
  // Fail the first AllocateAddress of the broker (the network's NAT took its own in setupAws above).
  const realAllocate = ins.port.allocateAddress;
  ins.port.allocateAddress = () => Promise.reject(wrapAwsError('ec2:AllocateAddress', Object.assign(new Error('injected'), { name: 'AddressLimitExceeded' })));
  t.teardown(() => {
    ins.port.allocateAddress = realAllocate;
  });
  const err = await deployBroker(c, prepared, report.network as NetworkIds, deps).catch((e: unknown) => e);
  ins.port.allocateAddress = realAllocate;
  t.ok(isSkiffError(err), 'a skiff error');
  t.match((err as Error).message, /deploying the broker of workspace brk stopped: .*AddressLimitExceeded.*These exist now: kms-key .*secret skiff\/brk\/broker-ca.*security-group .*Run skiff setup aws again to continue/);
});

t.test('setup aws deploys the broker: every resource made, tagged owner=skiff and the workspace', async (t) => {
  ins.reset();
  const r = await setupAndDeploy();
  t.ok(r.changed, 'the run after the failed one made the rest');
  t.same(r.resources.filter((l) => l.outcome === 'created').map((l) => l.kind).sort(), ['elastic-ip', 'instance', 'ssm-parameter'].sort(), 'only what the failed run had not made yet');

  // Every action called is in the documents `skiff policy aws` prints.
  const allowed = allowedActions(setupPolicy(), ongoingPolicy());
  t.same([...new Set(ins.actions)].filter((a) => !allowed.has(a)), [], 'no action outside the policy documents');

  // The SSM record points at the Elastic IP, pins the CA in the secret, names the table and key.
  const ssm = new SSMClient(cfg);
  const text = (await ssm.send(new GetParameterCommand({ Name: `/skiff/${WS}/broker` }))).Parameter?.Value ?? '';
  const record = parseDeployedBrokerParameter(text, 'record', 'PRV_CLOUD_ERROR');
  const eip = (await ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'tag:skiff:key', Values: ['broker-address'] }] }))).Addresses ?? [];
  t.equal(eip.length, 1, 'one Elastic IP for the broker');
  t.equal(record.url, `https://${eip[0]?.PublicIp ?? ''}`, 'the record points at the Elastic IP');
  t.equal(r.url, record.url);
  t.match(record, { region: REGION, table: `skiff-${WS}`, kmsKeyId: `alias/skiff-${WS}`, version: bundle.version });
  const secret = JSON.parse((await new SecretsManagerClient(cfg).send(new GetSecretValueCommand({ SecretId: `skiff/${WS}/broker-ca` }))).SecretString ?? '{}') as { certPem: string; keyPem: string };
  t.ok(new X509Certificate(secret.certPem).publicKey.equals(new X509Certificate(record.caPem).publicKey), 'the published CA is the one in the secret');
  const secretMeta = await new SecretsManagerClient(cfg).send(new DescribeSecretCommand({ SecretId: `skiff/${WS}/broker-ca` }));
  t.equal(secretMeta.KmsKeyId, `alias/skiff-${WS}`, 'the CA secret is encrypted with the workspace key');
  t.match(skiffTags(secretMeta.Tags), { owner: 'skiff', 'skiff:workspace': WS });
  const key = (await new KMSClient(cfg).send(new DescribeKeyCommand({ KeyId: `alias/skiff-${WS}` }))).KeyMetadata;
  t.equal(key?.KeyState, 'Enabled', 'the workspace key');

  // The instance: in the public subnet, the broker's role, IMDSv2 only, the broker group; the EIP on it.
  const instances = ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:role', Values: ['broker'] }] }))).Reservations ?? []).flatMap((x) => x.Instances ?? []);
  t.equal(instances.length, 1, 'one broker instance');
  const inst = instances[0];
  t.equal(inst?.InstanceType, 't4g.small', 'the default arm64 burstable type');
  t.match(skiffTags(inst?.Tags), { owner: 'skiff', 'skiff:workspace': WS, 'skiff:role': 'broker' });
  t.equal(inst?.MetadataOptions?.HttpTokens, 'required', 'IMDSv2 only');
  t.match(inst?.IamInstanceProfile?.Arn ?? '', /instance-profile\/skiff-broker-brk$/);
  t.equal(eip[0]?.InstanceId, inst?.InstanceId, 'the Elastic IP is on the broker instance');
  t.match(skiffTags(eip[0]?.Tags), { owner: 'skiff', 'skiff:workspace': WS });

  // The security group: 443 from --broker-cidr and from the VPC, nothing else.
  const groupIds = inst ? groupsOf(inst) : [];
  t.equal(groupIds.length, 1, 'one security group on the instance');
  const group = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupIds }))).SecurityGroups?.[0];
  t.match(skiffTags(group?.Tags), { owner: 'skiff', 'skiff:workspace': WS, 'skiff:role': 'broker' });
  const rules = (group?.IpPermissions ?? []).flatMap((p) => (p.IpRanges ?? []).map((x) => `${p.IpProtocol ?? ''}/${p.FromPort ?? ''}-${p.ToPort ?? ''} ${x.CidrIp ?? ''}`)).sort();
  t.same(rules, ['tcp/443-443 0.0.0.0/0', 'tcp/443-443 10.0.0.0/16'].sort(), 'only 443, from the CIDR and the VPC');

  // The user-data: the bundle's URL and SHA-256, and no secret of any kind.
  const ud = Buffer.from((await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: inst?.InstanceId ?? '', Attribute: 'userData' }))).UserData?.Value ?? '', 'base64').toString('utf8');
  t.match(ud, `BUNDLE_SHA256='${bundle.sha256}'`, 'the bundle is pinned by SHA-256');
  t.match(ud, `BUNDLE_URL='${moto.endpoint}/${r.resources.find((l) => l.kind === 's3-bucket')?.id ?? ''}/broker/${bundle.sha256}.tgz'`);
  t.match(ud, 'broker --deployed --workspace $SKIFF_WORKSPACE --region $SKIFF_REGION');
  t.notMatch(ud, /PRIVATE KEY|BEGIN CERTIFICATE|eyJ/, 'no key, no certificate, no token');
  for (const s of [access?.AccessKeyId ?? '', access?.SecretAccessKey ?? '', secret.keyPem.split('\n')[1] ?? '']) t.notOk(ud.includes(s), 'no credential of the caller and no CA key');

  // The bundle object is the one packed here, byte for byte.
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  const bucket = r.resources.find((l) => l.kind === 's3-bucket')?.id ?? '';
  const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `broker/${bundle.sha256}.tgz` }))).Body?.transformToByteArray() ?? []);
  t.equal(createHash('sha256').update(body).digest('hex'), bundle.sha256, 'the object in the bucket has the pinned SHA-256');
  t.match(skiffTags((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet), { owner: 'skiff', 'skiff:workspace': WS });

  // The table (on-demand, point-in-time recovery on) and its first admin: who ran setup.
  const table = (await dynamo.send(new DescribeTableCommand({ TableName: `skiff-${WS}` }))).Table;
  t.equal(table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
  const backups = await dynamo.send(new DescribeContinuousBackupsCommand({ TableName: `skiff-${WS}` }));
  t.equal(backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus, 'ENABLED');
  const store = openDynamoStore({ table: `skiff-${WS}`, client: dynamo });
  t.match(await store.accessGrants(), [{ pattern: user?.Arn, admin: true, grantedBy: 'skiff setup aws' }], 'the caller is the first admin');
  await store.close();

  // The role's policy: the broker's own resources by name, passing only the workspace's clusters' agent roles.
  const policy = JSON.parse(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: `skiff-broker-${WS}`, PolicyName: 'skiff-broker' }))).PolicyDocument ?? '{}')) as { Statement: { Sid: string; Resource: string | string[] }[] };
  t.match(policy.Statement.find((s) => s.Sid === 'ClustersOngoingPassRole')?.Resource, /^arn:aws:iam::\d{12}:role\/skiff-agent-brk-\*$/);
  t.match(policy.Statement.find((s) => s.Sid === 'BrokerCa')?.Resource, /:secret:skiff\/brk\/broker-ca-\?{6}$/);
  t.match(policy.Statement.find((s) => s.Sid === 'Bundle')?.Resource, new RegExp(`^arn:aws:s3:::${bucket}/broker/\\*$`));
  const profile = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: `skiff-broker-${WS}` }))).InstanceProfile;
  t.same(profile?.Roles?.map((x) => x.RoleName), [`skiff-broker-${WS}`]);
});

t.test('a second run creates nothing and changes nothing', async (t) => {
  ins.reset();
  const r = await setupAndDeploy();
  t.equal(r.changed, false, 'nothing changed');
  t.same(r.resources.filter((l) => l.outcome !== 'exists'), [], 'every resource exists as it should');
  // (setupAws before it checks permissions with DryRun creates and rewrites the agents' policy, as it always did.)
  t.same(r.deployActions.filter((a) => /:(Create|Put|Allocate|Run|Authorize|Associate|Add|Delete)/.test(a)), [], `no create, put or delete call: ${[...new Set(r.deployActions)].join(', ')}`);
});

t.test('teardown removes the broker and the network; a second teardown finds nothing', async (t) => {
  ins.reset();
  const { deleted } = await teardownAws(ctx(), WS, REGION);
  t.ok(deleted.length > 10, `deleted ${deleted.length} resources`);
  const live = ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:workspace', Values: [WS] }, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] }))).Reservations ?? []).flatMap((x) => x.Instances ?? []);
  t.same(live, [], 'no live instance');
  t.same((await ec2.send(new DescribeAddressesCommand({}))).Addresses, [], 'no Elastic IP');
  await t.rejects(new SSMClient(cfg).send(new GetParameterCommand({ Name: `/skiff/${WS}/broker` })), { name: 'ParameterNotFound' });
  await t.rejects(new SecretsManagerClient(cfg).send(new DescribeSecretCommand({ SecretId: `skiff/${WS}/broker-ca` })), { name: 'ResourceNotFoundException' });
  await t.rejects(dynamo.send(new DescribeTableCommand({ TableName: `skiff-${WS}` })), { name: 'ResourceNotFoundException' });
  const bucket = deleted.find((d) => d.startsWith('s3-bucket '))?.slice('s3-bucket '.length) ?? 'missing';
  await t.rejects(new S3Client({ ...cfg, forcePathStyle: true }).send(new HeadBucketCommand({ Bucket: bucket })), { name: 'NotFound' });
  await t.rejects(iam.send(new GetInstanceProfileCommand({ InstanceProfileName: `skiff-broker-${WS}` })), { name: 'NoSuchEntityException' });
  await t.rejects(new KMSClient(cfg).send(new DescribeKeyCommand({ KeyId: `alias/skiff-${WS}` })), { name: 'NotFoundException' });
  const allowed = allowedActions(setupPolicy(), ongoingPolicy());
  t.same([...new Set(ins.actions)].filter((a) => !allowed.has(a)), [], 'no action outside the policy documents');
  const again = await teardownAws(ctx(), WS, REGION);
  t.same(again.deleted, [], 'nothing left to delete');
});

t.test('the CLI: setup aws deploys and remembers the broker, a rerun says nothing changed, network delete points at teardown aws, which removes it all', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  Object.assign(h.env, moto.env, { AWS_ACCESS_KEY_ID: access?.AccessKeyId ?? '', AWS_SECRET_ACCESS_KEY: access?.SecretAccessKey ?? '' });
  const bad = await h.run(['setup', 'aws', '--workspace', 'cli', '--broker-cidr', 'anyone']);
  t.equal(bad.code, 1, 'a bad CIDR fails');
  t.match(bad.stderr, /--broker-cidr "anyone" is not an IPv4 CIDR block/);
  t.same((await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:skiff:workspace', Values: ['cli'] }] }))).Vpcs, [], 'and nothing was created, not even the network');

  const first = await h.run(['setup', 'aws', '--workspace', 'cli', '--no-wait']);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /broker https:\/\/\d+\.\d+\.\d+\.\d+ \(instance i-[0-9a-f]+/);
  t.match(first.stdout, /created instance i-/);
  t.match(first.stdout, 'the broker is deployed; skiff up --backend aws finds it');
  t.match(JSON.parse(readFileSync(join(h.home, 'cli.json'), 'utf8')), { broker: { kind: 'aws', workspace: 'cli', region: REGION } }, 'the home remembers the broker');

  const second = await h.run(['setup', 'aws', '--workspace', 'cli', '--no-wait']);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, 'nothing changed: every resource of the broker exists as it should');
  t.notMatch(second.stdout, /^\s+(created|updated) /m, 'every line says exists');

  const refused = await h.run(['network', 'delete', '--workspace', 'cli']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /the broker of workspace cli \(instance i-[0-9a-f]+\) runs in its network; skiff teardown aws removes the broker, then the network/);

  const down = await h.run(['teardown', 'aws', '--workspace', 'cli']);
  t.equal(down.code, 0, down.stderr);
  t.match(down.stdout, /deleted instance i-/);
  t.match(down.stdout, /deleted ssm-parameter \/skiff\/cli\/broker/);
  t.notOk(existsSync(join(h.home, 'cli.json')), 'the home forgot the broker');
  const again = await h.run(['teardown', 'aws', '--workspace', 'cli']);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, 'nothing of workspace cli left');
});
