import t from 'tap';
import { accountOfArn, brokerNames, brokerRolePolicy, checkBrokerRequest, DEFAULT_BROKER_CIDR, DEFAULT_BROKER_VM_TYPE } from '../../../../provisioner/plan/broker-plan.js';
import { buildBrokerUserData } from '../../../../provisioner/plan/broker-user-data.js';
import { MAX_USER_DATA_BYTES } from '../../../../provisioner/plan/user-data.js';
import { ongoingPolicy } from '../../../../provisioner/aws/policies.js';

const ok = { workspace: 'team', region: 'us-east-1', vmType: DEFAULT_BROKER_VM_TYPE, cidr: DEFAULT_BROKER_CIDR };

t.test('each bad input is refused with a message naming it and what to give', async (t) => {
  const cases: [Partial<typeof ok>, RegExp][] = [
    [{ workspace: 'Team' }, /workspace "Team" is not valid: 1 to 31 lower-case/],
    [{ region: 'mars-1' }, /region "mars-1" is not a supported AWS region/],
    [{ vmType: 't4g' }, /--broker-vm-type "t4g" is not an EC2 instance type name \(e.g. t4g.small\)/],
    [{ vmType: 't4g.small; rm -rf /' }, /--broker-vm-type/],
    [{ cidr: '0.0.0.0' }, /--broker-cidr "0.0.0.0" is not an IPv4 CIDR block: not of the form a.b.c.d\/prefix/],
    [{ cidr: '192.168.1.1/24' }, /did you mean 192.168.1.0\/24\?/],
  ];
  for (const [over, message] of cases) t.throws(() => checkBrokerRequest({ ...ok, ...over }), { code: 'PRV_INVALID_REQUEST', message }, JSON.stringify(over));
  t.same(checkBrokerRequest(ok), ok, 'the defaults pass');
  t.same(checkBrokerRequest({ ...ok, vmType: 'm7i-flex.large', cidr: '203.0.113.0/24' }).vmType, 'm7i-flex.large');
});

t.test('names: per workspace, the bucket global and at most 63 characters, the broker id the same on every run', async (t) => {
  const n = brokerNames('team', 'us-east-1', '123456789012');
  t.match(n, { kmsAlias: 'alias/skiff-team', caSecret: 'skiff/team/broker-ca', parameter: '/skiff/team/broker', table: 'skiff-team', role: 'skiff-broker-team', bucket: 'skiff-team-123456789012-us-east-1', agentRole: 'skiff-agent-team' });
  t.same(brokerNames('team', 'us-east-1', '123456789012'), n, 'deterministic');
  const long = brokerNames('a'.repeat(31), 'ap-southeast-4', '123456789012');
  t.ok(long.bucket.length <= 63, long.bucket);
  t.match(long.bucket, /^skiff-a{31}-[0-9a-f]{16}$/);
  t.not(brokerNames('a'.repeat(31), 'ap-southeast-3', '123456789012').bucket, long.bucket, 'another region, another bucket');
});

t.test('the broker role reaches its own resources by name and only this workspace\'s agent roles, bounded, passed to EC2 only', async (t) => {
  const n = brokerNames('team', 'eu-west-1', '123456789012');
  const doc = JSON.parse(brokerRolePolicy(n, 'eu-west-1', 'arn:aws:kms:eu-west-1:123456789012:key/k-1', ongoingPolicy().Statement)) as { Statement: { Sid: string; Action: string[]; Resource: string | string[]; Condition?: unknown }[] };
  const by = (sid: string) => doc.Statement.find((s) => s.Sid === sid);
  t.equal(by('Record')?.Resource, 'arn:aws:ssm:eu-west-1:123456789012:parameter/skiff/team/broker');
  t.equal(by('BrokerCa')?.Resource, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:skiff/team/broker-ca-??????');
  t.equal(by('WorkspaceKey')?.Resource, 'arn:aws:kms:eu-west-1:123456789012:key/k-1');
  t.equal(by('Store')?.Resource, 'arn:aws:dynamodb:eu-west-1:123456789012:table/skiff-team');
  t.equal(by('Bundle')?.Resource, 'arn:aws:s3:::skiff-team-123456789012-eu-west-1/broker/*');
  const iamStatements = doc.Statement.filter((s) => s.Action.some((a) => a.startsWith('iam:')));
  const iamResources = iamStatements.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
  for (const r of iamResources) {
    t.ok(r === '*' || /^arn:aws:iam::123456789012:((role|instance-profile)\/skiff-agent-team-\*|policy\/skiff\/skiff-agent-boundary-team)$/.test(r), `IAM only on this workspace's agent roles and boundary: ${r}`);
  }
  const pass = iamStatements.find((s) => s.Action.includes('iam:PassRole'));
  t.same(pass?.Condition, { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } }, 'agent roles go to EC2 only');
  const create = iamStatements.find((s) => s.Action.includes('iam:CreateRole'));
  t.same(create?.Resource, 'arn:aws:iam::123456789012:role/skiff-agent-team-*');
  t.same(create?.Condition, { StringEquals: { 'aws:RequestTag/owner': 'skiff' }, StringLike: { 'iam:PermissionsBoundary': 'arn:aws:iam::123456789012:policy/skiff/skiff-agent-boundary-team' } }, "a cluster's agent role only with this workspace's boundary");
  t.notOk(doc.Statement.some((s) => s.Action.some((a) => /^(iam:CreatePolicy|iam:DeletePolicy|iam:Attach|kms:Create|kms:Schedule|dynamodb:DeleteTable|s3:Delete|secretsmanager:(Create|Delete|Put))/.test(a))), 'the broker cannot make or remove the workspace\'s own resources');
});

t.test('accountOfArn reads the account and partition STS names', async (t) => {
  t.same(accountOfArn('arn:aws:iam::123456789012:user/ana'), { account: '123456789012', partition: 'aws' });
  t.same(accountOfArn('arn:aws-cn:sts::123456789012:assumed-role/r/s'), { account: '123456789012', partition: 'aws-cn' });
  t.throws(() => accountOfArn('arn:aws:sts::moto:user/x'), { code: 'PRV_INVALID_REQUEST' });
});

t.test('the broker user-data pins the bundle, carries no secret and stays under 16 KB; unsafe values are refused', async (t) => {
  const sha = 'ab'.repeat(32);
  const ud = buildBrokerUserData({ workspace: 'team', region: 'eu-west-1', bundleUrl: `https://b.s3.eu-west-1.amazonaws.com/broker/${sha}.tgz`, bundleSha256: sha });
  t.match(ud, /^#!\/bin\/bash\n/);
  t.match(ud, `BUNDLE_SHA256='${sha}'`);
  t.match(ud, 'sha256sum -c -');
  t.match(ud, /ExecStart=\$NODE_BIN \$INSTALL_DIR\/broker\/dist\/broker\/cli\/main.js broker --deployed --workspace \$SKIFF_WORKSPACE --region \$SKIFF_REGION/);
  t.match(ud, 'tarball_node', 'finds Node as the agents do');
  t.notMatch(ud, /PRIVATE KEY|BEGIN CERTIFICATE|AKIA|X-Amz-Signature/);
  t.ok(Buffer.byteLength(ud) <= MAX_USER_DATA_BYTES);
  t.throws(() => buildBrokerUserData({ workspace: 'team', region: 'eu-west-1', bundleUrl: "https://b/x'; rm -rf /", bundleSha256: sha }), { code: 'PRV_INVALID_REQUEST', message: /bundle URL/ });
  t.throws(() => buildBrokerUserData({ workspace: 'team', region: 'eu-west-1', bundleUrl: 'https://b/x', bundleSha256: 'nope' }), { message: /sha256/ });
});
