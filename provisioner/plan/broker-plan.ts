// The workspace's deployed broker as data (issue 19): what `skiff setup aws` asks for, checked before anything
// exists, the names of everything it makes, and the broker instance's IAM policy. Pure; provisioner/aws/broker-*.ts
// creates and removes the resources.
//
//   request (workspace, region, --broker-vm-type, --broker-cidr, bundle) ──check──▶ names (account from STS)
//     KMS alias/skiff-W · secret skiff/W/broker-ca · table skiff-W · bucket · role+profile skiff-broker-W
//     security group skiff-W-broker (443 from the CIDR and the VPC) · Elastic IP · instance · SSM /skiff/W/broker
import { createHash } from 'node:crypto';
import { SkiffError } from '../../broker/api/errors.js';
import { brokerCaSecretName, brokerParameterName, workspaceKmsAlias } from '../../broker/api/deployed-broker.js';
import { WORKSPACE_NAME, WORKSPACE_NAME_RULE } from '../../broker/api/limits.js';
import { logGroupFor } from '../../broker/api/logs.js';
import { agentRoleName } from './agent-role.js';
import { parseCidr } from './cidr.js';
import { isSupportedRegion } from './regions.js';
import { KEY_TAG, ROLE_TAG, type Tags } from './tags.js';

/** An arm64 burstable type: the broker idles most of the time, and Graviton is the cheaper per vCPU. */
export const DEFAULT_BROKER_VM_TYPE = 't4g.small';
export const DEFAULT_BROKER_CIDR = '0.0.0.0/0';
export const BROKER_PORT = 443;
export const BROKER_ROLE_TAG_VALUE = 'broker';
export const BROKER_POLICY_NAME = 'skiff-broker';

export interface BrokerRequest {
  workspace: string;
  region: string;
  vmType: string;
  /** Who may reach the broker's 443 besides the VPC. */
  cidr: string;
}

// EC2 type names: family (letters, a generation digit, attribute letters) '.' size, e.g. t4g.small, m7i-flex.large.
const VM_TYPE_RE = /^[a-z][a-z0-9-]{1,15}\.[a-z0-9]{2,16}$/;

function invalid(message: string): SkiffError {
  return new SkiffError('PRV_INVALID_REQUEST', message);
}

/** Every check that needs no AWS call; throws naming the input and what to give instead. */
export function checkBrokerRequest(r: BrokerRequest): BrokerRequest {
  if (!WORKSPACE_NAME.test(r.workspace)) throw invalid(`workspace ${JSON.stringify(r.workspace)} is not valid: ${WORKSPACE_NAME_RULE}`);
  if (!isSupportedRegion(r.region)) throw invalid(`region ${JSON.stringify(r.region)} is not a supported AWS region`);
  if (!VM_TYPE_RE.test(r.vmType)) throw invalid(`--broker-vm-type ${JSON.stringify(r.vmType)} is not an EC2 instance type name (e.g. ${DEFAULT_BROKER_VM_TYPE})`);
  const cidr = parseCidr(r.cidr);
  if (!cidr.ok) throw invalid(`--broker-cidr ${JSON.stringify(r.cidr)} is not an IPv4 CIDR block: ${cidr.reason} (e.g. 203.0.113.0/24, or ${DEFAULT_BROKER_CIDR} for anyone)`);
  return { ...r };
}

export interface BrokerNames {
  workspace: string;
  account: string;
  partition: string;
  kmsAlias: string;
  caSecret: string;
  parameter: string;
  table: string;
  bucket: string;
  /** Role and instance profile share it. */
  role: string;
  securityGroup: string;
  /** Names this broker in signed sign-in requests; the same on every run, so a rerun republishes the same record. */
  brokerId: string;
  logGroup: string;
  /** The prefix of the workspace's agent roles and instance profiles (one per cluster: <prefix>-<cluster id>), which the broker makes and passes to cluster machines. */
  agentRole: string;
}

/** The workspace's broker resources in one account and region. Bucket names are global: the account and region are in it. */
export function brokerNames(workspace: string, region: string, account: string, partition = 'aws'): BrokerNames {
  const plain = `skiff-${workspace}-${account}-${region}`;
  // At most 63 characters: a long workspace in a long region name gets a digest of account and region instead.
  const bucket = plain.length <= 63 ? plain : `skiff-${workspace}-${createHash('sha256').update(`${account}/${region}`).digest('hex').slice(0, 16)}`;
  return {
    workspace,
    account,
    partition,
    kmsAlias: workspaceKmsAlias(workspace),
    caSecret: brokerCaSecretName(workspace),
    parameter: brokerParameterName(workspace),
    table: `skiff-${workspace}`,
    bucket,
    role: `skiff-broker-${workspace}`,
    securityGroup: `skiff-${workspace}-broker`,
    brokerId: `skiff-${workspace}-${account}-${region}`,
    logGroup: logGroupFor(workspace),
    agentRole: agentRoleName(workspace),
  };
}

/** The bundle's object: content-addressed, so an upgrade uploads beside the old one and an instance names exactly its own. */
export function bundleKey(sha256: string): string {
  return `broker/${sha256}.tgz`;
}

/** Tags of one broker resource: the workspace's, plus which part it is (found by these on a rerun). */
export function brokerTags(base: Tags, workspace: string, part: 'instance' | 'security-group' | 'address' | 'volume'): Tags {
  return { ...base, [ROLE_TAG]: BROKER_ROLE_TAG_VALUE, [KEY_TAG]: `broker-${part}`, Name: `skiff-${workspace}-broker` };
}

export function brokerTrustPolicy(): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
}

interface Statement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * The broker instance's inline policy: what it reads at boot (its record, its CA, its bundle), its table, the
 * workspace key (seal and unseal only), its own log, and what it does for clusters: the "ongoing" EC2 and Logs
 * actions, destructive ones only on resources tagged owner=skiff, and the workspace's clusters' agent roles (created
 * only with the workspace's boundary, passed to EC2 only).
 * `ongoing` is that document's statements (provisioner/aws/policies.ts), passed in so this module stays pure.
 */
export function brokerRolePolicy(n: BrokerNames, region: string, kmsKeyArn: string, ongoing: readonly Statement[]): string {
  const arn = (service: string, resource: string, r = region) => `arn:${n.partition}:${service}:${r}:${n.account}:${resource}`;
  // The clusters' agent roles (one per cluster, skiff-agent-<workspace>-<cluster>) and the workspace's boundary,
  // narrowed from any account's and workspace's to this one's.
  const narrow = (r: string): string =>
    r
      .replace('arn:aws:iam::*:role/skiff-agent-*', `arn:${n.partition}:iam::${n.account}:role/${n.agentRole}-*`)
      .replace('arn:aws:iam::*:instance-profile/skiff-agent-*', `arn:${n.partition}:iam::${n.account}:instance-profile/${n.agentRole}-*`)
      .replace('arn:aws:iam::*:policy/skiff/skiff-agent-boundary-*', `arn:${n.partition}:iam::${n.account}:policy/skiff/skiff-agent-boundary-${n.workspace}`);
  const narrowCondition = (c: NonNullable<Statement['Condition']>): NonNullable<Statement['Condition']> =>
    Object.fromEntries(Object.entries(c).map(([op, kv]) => [op, Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, Array.isArray(v) ? v.map(narrow) : narrow(v)]))]));
  const clusterStatements = ongoing.map((s) => ({
    ...s,
    Sid: `Clusters${s.Sid}`,
    Resource: Array.isArray(s.Resource) ? s.Resource.map(narrow) : narrow(s.Resource),
    ...(s.Condition ? { Condition: narrowCondition(s.Condition) } : {}),
  }));
  const statements: Statement[] = [
    { Sid: 'Record', Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: arn('ssm', `parameter${n.parameter}`) },
    // Secrets Manager appends six random characters to a secret's ARN.
    { Sid: 'BrokerCa', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: arn('secretsmanager', `secret:${n.caSecret}-??????`) },
    { Sid: 'WorkspaceKey', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:Encrypt'], Resource: kmsKeyArn },
    {
      Sid: 'Store', Effect: 'Allow',
      Action: ['dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      Resource: arn('dynamodb', `table/${n.table}`),
    },
    { Sid: 'Bundle', Effect: 'Allow', Action: ['s3:GetObject'], Resource: `arn:${n.partition}:s3:::${n.bucket}/broker/*` },
    {
      Sid: 'OwnLog', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
      Resource: [arn('logs', `log-group:${n.logGroup}`), arn('logs', `log-group:${n.logGroup}:*`)],
    },
    ...clusterStatements,
  ];
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/** The account and partition of an ARN STS named (arn:PARTITION:SERVICE::ACCOUNT:…). */
export function accountOfArn(arn: string): { account: string; partition: string } {
  const m = /^arn:(aws|aws-cn|aws-us-gov):(?:iam|sts)::(\d{12}):/.exec(arn);
  if (!m) throw invalid(`STS named the caller ${JSON.stringify(arn.slice(0, 200))}, which is not an IAM or STS ARN of an account`);
  return { partition: m[1] ?? 'aws', account: m[2] ?? '' };
}
