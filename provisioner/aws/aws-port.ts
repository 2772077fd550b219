// The small port through which the aws backend talks to AWS: one method per API action it uses, each named
// after the action. Tests wrap it (see instrument-port.ts) to record every action and fail the k-th call.
// SDK errors are wrapped here into SkiffError PRV_CLOUD_ERROR, the AWS error name kept as `cause`.

import * as ec2 from '@aws-sdk/client-ec2';
import * as logs from '@aws-sdk/client-cloudwatch-logs';
import * as iam from '@aws-sdk/client-iam';
import * as sq from '@aws-sdk/client-service-quotas';
import * as kms from '@aws-sdk/client-kms';
import * as secrets from '@aws-sdk/client-secrets-manager';
import * as ssm from '@aws-sdk/client-ssm';
import * as s3 from '@aws-sdk/client-s3';
import * as sts from '@aws-sdk/client-sts';
import * as dynamodb from '@aws-sdk/client-dynamodb';
import { SkiffError } from '../../broker/api/errors.js';

type Op<I, O> = (input: I) => Promise<O>;

export interface AwsPort {
  // EC2: shared network
  describeVpcs: Op<ec2.DescribeVpcsCommandInput, ec2.DescribeVpcsCommandOutput>;
  createVpc: Op<ec2.CreateVpcCommandInput, ec2.CreateVpcCommandOutput>;
  describeVpcAttribute: Op<ec2.DescribeVpcAttributeCommandInput, ec2.DescribeVpcAttributeCommandOutput>;
  modifyVpcAttribute: Op<ec2.ModifyVpcAttributeCommandInput, ec2.ModifyVpcAttributeCommandOutput>;
  deleteVpc: Op<ec2.DeleteVpcCommandInput, ec2.DeleteVpcCommandOutput>;
  describeInternetGateways: Op<ec2.DescribeInternetGatewaysCommandInput, ec2.DescribeInternetGatewaysCommandOutput>;
  createInternetGateway: Op<ec2.CreateInternetGatewayCommandInput, ec2.CreateInternetGatewayCommandOutput>;
  attachInternetGateway: Op<ec2.AttachInternetGatewayCommandInput, ec2.AttachInternetGatewayCommandOutput>;
  detachInternetGateway: Op<ec2.DetachInternetGatewayCommandInput, ec2.DetachInternetGatewayCommandOutput>;
  deleteInternetGateway: Op<ec2.DeleteInternetGatewayCommandInput, ec2.DeleteInternetGatewayCommandOutput>;
  describeSubnets: Op<ec2.DescribeSubnetsCommandInput, ec2.DescribeSubnetsCommandOutput>;
  modifySubnetAttribute: Op<ec2.ModifySubnetAttributeCommandInput, ec2.ModifySubnetAttributeCommandOutput>;
  createSubnet: Op<ec2.CreateSubnetCommandInput, ec2.CreateSubnetCommandOutput>;
  deleteSubnet: Op<ec2.DeleteSubnetCommandInput, ec2.DeleteSubnetCommandOutput>;
  describeRouteTables: Op<ec2.DescribeRouteTablesCommandInput, ec2.DescribeRouteTablesCommandOutput>;
  createRouteTable: Op<ec2.CreateRouteTableCommandInput, ec2.CreateRouteTableCommandOutput>;
  createRoute: Op<ec2.CreateRouteCommandInput, ec2.CreateRouteCommandOutput>;
  associateRouteTable: Op<ec2.AssociateRouteTableCommandInput, ec2.AssociateRouteTableCommandOutput>;
  disassociateRouteTable: Op<ec2.DisassociateRouteTableCommandInput, ec2.DisassociateRouteTableCommandOutput>;
  deleteRouteTable: Op<ec2.DeleteRouteTableCommandInput, ec2.DeleteRouteTableCommandOutput>;
  describeAddresses: Op<ec2.DescribeAddressesCommandInput, ec2.DescribeAddressesCommandOutput>;
  allocateAddress: Op<ec2.AllocateAddressCommandInput, ec2.AllocateAddressCommandOutput>;
  releaseAddress: Op<ec2.ReleaseAddressCommandInput, ec2.ReleaseAddressCommandOutput>;
  describeNatGateways: Op<ec2.DescribeNatGatewaysCommandInput, ec2.DescribeNatGatewaysCommandOutput>;
  createNatGateway: Op<ec2.CreateNatGatewayCommandInput, ec2.CreateNatGatewayCommandOutput>;
  deleteNatGateway: Op<ec2.DeleteNatGatewayCommandInput, ec2.DeleteNatGatewayCommandOutput>;
  describeAvailabilityZones: Op<ec2.DescribeAvailabilityZonesCommandInput, ec2.DescribeAvailabilityZonesCommandOutput>;
  describeRegions: Op<ec2.DescribeRegionsCommandInput, ec2.DescribeRegionsCommandOutput>;
  // EC2: cluster
  describeSecurityGroups: Op<ec2.DescribeSecurityGroupsCommandInput, ec2.DescribeSecurityGroupsCommandOutput>;
  createSecurityGroup: Op<ec2.CreateSecurityGroupCommandInput, ec2.CreateSecurityGroupCommandOutput>;
  authorizeSecurityGroupIngress: Op<ec2.AuthorizeSecurityGroupIngressCommandInput, ec2.AuthorizeSecurityGroupIngressCommandOutput>;
  deleteSecurityGroup: Op<ec2.DeleteSecurityGroupCommandInput, ec2.DeleteSecurityGroupCommandOutput>;
  describeImages: Op<ec2.DescribeImagesCommandInput, ec2.DescribeImagesCommandOutput>;
  describeInstanceTypes: Op<ec2.DescribeInstanceTypesCommandInput, ec2.DescribeInstanceTypesCommandOutput>;
  describeLaunchTemplates: Op<ec2.DescribeLaunchTemplatesCommandInput, ec2.DescribeLaunchTemplatesCommandOutput>;
  createLaunchTemplate: Op<ec2.CreateLaunchTemplateCommandInput, ec2.CreateLaunchTemplateCommandOutput>;
  describeLaunchTemplateVersions: Op<ec2.DescribeLaunchTemplateVersionsCommandInput, ec2.DescribeLaunchTemplateVersionsCommandOutput>;
  createLaunchTemplateVersion: Op<ec2.CreateLaunchTemplateVersionCommandInput, ec2.CreateLaunchTemplateVersionCommandOutput>;
  deleteLaunchTemplate: Op<ec2.DeleteLaunchTemplateCommandInput, ec2.DeleteLaunchTemplateCommandOutput>;
  runInstances: Op<ec2.RunInstancesCommandInput, ec2.RunInstancesCommandOutput>;
  createFleet: Op<ec2.CreateFleetCommandInput, ec2.CreateFleetCommandOutput>;
  describeInstances: Op<ec2.DescribeInstancesCommandInput, ec2.DescribeInstancesCommandOutput>;
  terminateInstances: Op<ec2.TerminateInstancesCommandInput, ec2.TerminateInstancesCommandOutput>;
  // EC2: the workspace's broker instance keeps its Elastic IP
  associateAddress: Op<ec2.AssociateAddressCommandInput, ec2.AssociateAddressCommandOutput>;
  // CloudWatch Logs
  describeLogGroups: Op<logs.DescribeLogGroupsCommandInput, logs.DescribeLogGroupsCommandOutput>;
  createLogGroup: Op<logs.CreateLogGroupCommandInput, logs.CreateLogGroupCommandOutput>;
  putRetentionPolicy: Op<logs.PutRetentionPolicyCommandInput, logs.PutRetentionPolicyCommandOutput>;
  getLogEvents: Op<logs.GetLogEventsCommandInput, logs.GetLogEventsCommandOutput>;
  // IAM (global): the agents' roles and instance profiles (one per cluster) and the workspace's boundary
  listRoles: Op<iam.ListRolesCommandInput, iam.ListRolesCommandOutput>;
  listPolicies: Op<iam.ListPoliciesCommandInput, iam.ListPoliciesCommandOutput>;
  createPolicy: Op<iam.CreatePolicyCommandInput, iam.CreatePolicyCommandOutput>;
  deletePolicy: Op<iam.DeletePolicyCommandInput, iam.DeletePolicyCommandOutput>;
  getRole: Op<iam.GetRoleCommandInput, iam.GetRoleCommandOutput>;
  createRole: Op<iam.CreateRoleCommandInput, iam.CreateRoleCommandOutput>;
  putRolePolicy: Op<iam.PutRolePolicyCommandInput, iam.PutRolePolicyCommandOutput>;
  getRolePolicy: Op<iam.GetRolePolicyCommandInput, iam.GetRolePolicyCommandOutput>;
  deleteRolePolicy: Op<iam.DeleteRolePolicyCommandInput, iam.DeleteRolePolicyCommandOutput>;
  deleteRole: Op<iam.DeleteRoleCommandInput, iam.DeleteRoleCommandOutput>;
  getInstanceProfile: Op<iam.GetInstanceProfileCommandInput, iam.GetInstanceProfileCommandOutput>;
  createInstanceProfile: Op<iam.CreateInstanceProfileCommandInput, iam.CreateInstanceProfileCommandOutput>;
  addRoleToInstanceProfile: Op<iam.AddRoleToInstanceProfileCommandInput, iam.AddRoleToInstanceProfileCommandOutput>;
  removeRoleFromInstanceProfile: Op<iam.RemoveRoleFromInstanceProfileCommandInput, iam.RemoveRoleFromInstanceProfileCommandOutput>;
  deleteInstanceProfile: Op<iam.DeleteInstanceProfileCommandInput, iam.DeleteInstanceProfileCommandOutput>;
  createServiceLinkedRole: Op<iam.CreateServiceLinkedRoleCommandInput, iam.CreateServiceLinkedRoleCommandOutput>;
  // Service Quotas (regional): the vCPU quotas plan() and setup read
  getServiceQuota: Op<sq.GetServiceQuotaCommandInput, sq.GetServiceQuotaCommandOutput>;
  // The workspace's deployed broker (setup aws, teardown aws): who runs setup, the workspace key, the broker CA,
  // the broker's record, its bundle's bucket and its table.
  getCallerIdentity: Op<sts.GetCallerIdentityCommandInput, sts.GetCallerIdentityCommandOutput>;
  describeKey: Op<kms.DescribeKeyCommandInput, kms.DescribeKeyCommandOutput>;
  createKey: Op<kms.CreateKeyCommandInput, kms.CreateKeyCommandOutput>;
  createAlias: Op<kms.CreateAliasCommandInput, kms.CreateAliasCommandOutput>;
  deleteAlias: Op<kms.DeleteAliasCommandInput, kms.DeleteAliasCommandOutput>;
  scheduleKeyDeletion: Op<kms.ScheduleKeyDeletionCommandInput, kms.ScheduleKeyDeletionCommandOutput>;
  describeSecret: Op<secrets.DescribeSecretCommandInput, secrets.DescribeSecretCommandOutput>;
  createSecret: Op<secrets.CreateSecretCommandInput, secrets.CreateSecretCommandOutput>;
  getSecretValue: Op<secrets.GetSecretValueCommandInput, secrets.GetSecretValueCommandOutput>;
  deleteSecret: Op<secrets.DeleteSecretCommandInput, secrets.DeleteSecretCommandOutput>;
  getParameter: Op<ssm.GetParameterCommandInput, ssm.GetParameterCommandOutput>;
  putParameter: Op<ssm.PutParameterCommandInput, ssm.PutParameterCommandOutput>;
  deleteParameter: Op<ssm.DeleteParameterCommandInput, ssm.DeleteParameterCommandOutput>;
  headBucket: Op<s3.HeadBucketCommandInput, s3.HeadBucketCommandOutput>;
  createBucket: Op<s3.CreateBucketCommandInput, s3.CreateBucketCommandOutput>;
  putBucketTagging: Op<s3.PutBucketTaggingCommandInput, s3.PutBucketTaggingCommandOutput>;
  putPublicAccessBlock: Op<s3.PutPublicAccessBlockCommandInput, s3.PutPublicAccessBlockCommandOutput>;
  headObject: Op<s3.HeadObjectCommandInput, s3.HeadObjectCommandOutput>;
  putObject: Op<s3.PutObjectCommandInput, s3.PutObjectCommandOutput>;
  listObjectsV2: Op<s3.ListObjectsV2CommandInput, s3.ListObjectsV2CommandOutput>;
  deleteObject: Op<s3.DeleteObjectCommandInput, s3.DeleteObjectCommandOutput>;
  deleteBucket: Op<s3.DeleteBucketCommandInput, s3.DeleteBucketCommandOutput>;
  deleteTable: Op<dynamodb.DeleteTableCommandInput, dynamodb.DeleteTableCommandOutput>;
  getAWSDefaultServiceQuota: Op<sq.GetAWSDefaultServiceQuotaCommandInput, sq.GetAWSDefaultServiceQuotaCommandOutput>;
}

export type AwsAction = keyof AwsPort;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = new (input: any) => any;

const EC2_COMMANDS: Record<Exclude<AwsAction, LogsAction | IamAction | QuotasAction | BrokerAction>, AnyCommand> = {
  describeVpcs: ec2.DescribeVpcsCommand,
  createVpc: ec2.CreateVpcCommand,
  describeVpcAttribute: ec2.DescribeVpcAttributeCommand,
  modifyVpcAttribute: ec2.ModifyVpcAttributeCommand,
  deleteVpc: ec2.DeleteVpcCommand,
  describeInternetGateways: ec2.DescribeInternetGatewaysCommand,
  createInternetGateway: ec2.CreateInternetGatewayCommand,
  attachInternetGateway: ec2.AttachInternetGatewayCommand,
  detachInternetGateway: ec2.DetachInternetGatewayCommand,
  deleteInternetGateway: ec2.DeleteInternetGatewayCommand,
  describeSubnets: ec2.DescribeSubnetsCommand,
  modifySubnetAttribute: ec2.ModifySubnetAttributeCommand,
  createSubnet: ec2.CreateSubnetCommand,
  deleteSubnet: ec2.DeleteSubnetCommand,
  describeRouteTables: ec2.DescribeRouteTablesCommand,
  createRouteTable: ec2.CreateRouteTableCommand,
  createRoute: ec2.CreateRouteCommand,
  associateRouteTable: ec2.AssociateRouteTableCommand,
  disassociateRouteTable: ec2.DisassociateRouteTableCommand,
  deleteRouteTable: ec2.DeleteRouteTableCommand,
  describeAddresses: ec2.DescribeAddressesCommand,
  allocateAddress: ec2.AllocateAddressCommand,
  releaseAddress: ec2.ReleaseAddressCommand,
  describeNatGateways: ec2.DescribeNatGatewaysCommand,
  createNatGateway: ec2.CreateNatGatewayCommand,
  deleteNatGateway: ec2.DeleteNatGatewayCommand,
  describeAvailabilityZones: ec2.DescribeAvailabilityZonesCommand,
  describeRegions: ec2.DescribeRegionsCommand,
  describeSecurityGroups: ec2.DescribeSecurityGroupsCommand,
  createSecurityGroup: ec2.CreateSecurityGroupCommand,
  authorizeSecurityGroupIngress: ec2.AuthorizeSecurityGroupIngressCommand,
  deleteSecurityGroup: ec2.DeleteSecurityGroupCommand,
  describeImages: ec2.DescribeImagesCommand,
  describeInstanceTypes: ec2.DescribeInstanceTypesCommand,
  describeLaunchTemplates: ec2.DescribeLaunchTemplatesCommand,
  createLaunchTemplate: ec2.CreateLaunchTemplateCommand,
  describeLaunchTemplateVersions: ec2.DescribeLaunchTemplateVersionsCommand,
  createLaunchTemplateVersion: ec2.CreateLaunchTemplateVersionCommand,
  deleteLaunchTemplate: ec2.DeleteLaunchTemplateCommand,
  runInstances: ec2.RunInstancesCommand,
  createFleet: ec2.CreateFleetCommand,
  describeInstances: ec2.DescribeInstancesCommand,
  terminateInstances: ec2.TerminateInstancesCommand,
  associateAddress: ec2.AssociateAddressCommand,
};

type LogsAction = 'describeLogGroups' | 'createLogGroup' | 'putRetentionPolicy' | 'getLogEvents';
const LOGS_COMMANDS: Record<LogsAction, AnyCommand> = {
  describeLogGroups: logs.DescribeLogGroupsCommand,
  createLogGroup: logs.CreateLogGroupCommand,
  putRetentionPolicy: logs.PutRetentionPolicyCommand,
  getLogEvents: logs.GetLogEventsCommand,
};

type IamAction =
  | 'listRoles'
  | 'listPolicies'
  | 'createPolicy'
  | 'deletePolicy'
  | 'getRole'
  | 'createRole'
  | 'putRolePolicy'
  | 'getRolePolicy'
  | 'deleteRolePolicy'
  | 'deleteRole'
  | 'getInstanceProfile'
  | 'createInstanceProfile'
  | 'addRoleToInstanceProfile'
  | 'removeRoleFromInstanceProfile'
  | 'deleteInstanceProfile'
  | 'createServiceLinkedRole';
const IAM_COMMANDS: Record<IamAction, AnyCommand> = {
  listRoles: iam.ListRolesCommand,
  listPolicies: iam.ListPoliciesCommand,
  createPolicy: iam.CreatePolicyCommand,
  deletePolicy: iam.DeletePolicyCommand,
  getRole: iam.GetRoleCommand,
  createRole: iam.CreateRoleCommand,
  putRolePolicy: iam.PutRolePolicyCommand,
  getRolePolicy: iam.GetRolePolicyCommand,
  deleteRolePolicy: iam.DeleteRolePolicyCommand,
  deleteRole: iam.DeleteRoleCommand,
  getInstanceProfile: iam.GetInstanceProfileCommand,
  createInstanceProfile: iam.CreateInstanceProfileCommand,
  addRoleToInstanceProfile: iam.AddRoleToInstanceProfileCommand,
  removeRoleFromInstanceProfile: iam.RemoveRoleFromInstanceProfileCommand,
  deleteInstanceProfile: iam.DeleteInstanceProfileCommand,
  createServiceLinkedRole: iam.CreateServiceLinkedRoleCommand,
};

type QuotasAction = 'getServiceQuota' | 'getAWSDefaultServiceQuota';
const QUOTAS_COMMANDS: Record<QuotasAction, AnyCommand> = {
  getServiceQuota: sq.GetServiceQuotaCommand,
  getAWSDefaultServiceQuota: sq.GetAWSDefaultServiceQuotaCommand,
};

type Service = 'sts' | 'kms' | 'secretsmanager' | 'ssm' | 's3' | 'dynamodb';
type BrokerAction =
  | 'getCallerIdentity'
  | 'describeKey' | 'createKey' | 'createAlias' | 'deleteAlias' | 'scheduleKeyDeletion'
  | 'describeSecret' | 'createSecret' | 'getSecretValue' | 'deleteSecret'
  | 'getParameter' | 'putParameter' | 'deleteParameter'
  | 'headBucket' | 'createBucket' | 'putBucketTagging' | 'putPublicAccessBlock' | 'headObject' | 'putObject' | 'listObjectsV2' | 'deleteObject' | 'deleteBucket'
  | 'deleteTable';
const BROKER_COMMANDS: Record<BrokerAction, { service: Service; Cmd: AnyCommand; iam?: string }> = {
  getCallerIdentity: { service: 'sts', Cmd: sts.GetCallerIdentityCommand },
  describeKey: { service: 'kms', Cmd: kms.DescribeKeyCommand },
  createKey: { service: 'kms', Cmd: kms.CreateKeyCommand },
  createAlias: { service: 'kms', Cmd: kms.CreateAliasCommand },
  deleteAlias: { service: 'kms', Cmd: kms.DeleteAliasCommand },
  scheduleKeyDeletion: { service: 'kms', Cmd: kms.ScheduleKeyDeletionCommand },
  describeSecret: { service: 'secretsmanager', Cmd: secrets.DescribeSecretCommand },
  createSecret: { service: 'secretsmanager', Cmd: secrets.CreateSecretCommand },
  getSecretValue: { service: 'secretsmanager', Cmd: secrets.GetSecretValueCommand },
  deleteSecret: { service: 'secretsmanager', Cmd: secrets.DeleteSecretCommand },
  getParameter: { service: 'ssm', Cmd: ssm.GetParameterCommand },
  putParameter: { service: 'ssm', Cmd: ssm.PutParameterCommand },
  deleteParameter: { service: 'ssm', Cmd: ssm.DeleteParameterCommand },
  // S3's IAM actions are not its API names: HeadBucket and ListObjectsV2 need s3:ListBucket, HeadObject s3:GetObject.
  headBucket: { service: 's3', Cmd: s3.HeadBucketCommand, iam: 's3:ListBucket' },
  createBucket: { service: 's3', Cmd: s3.CreateBucketCommand },
  putBucketTagging: { service: 's3', Cmd: s3.PutBucketTaggingCommand },
  putPublicAccessBlock: { service: 's3', Cmd: s3.PutPublicAccessBlockCommand, iam: 's3:PutBucketPublicAccessBlock' },
  headObject: { service: 's3', Cmd: s3.HeadObjectCommand, iam: 's3:GetObject' },
  putObject: { service: 's3', Cmd: s3.PutObjectCommand },
  listObjectsV2: { service: 's3', Cmd: s3.ListObjectsV2Command, iam: 's3:ListBucket' },
  deleteObject: { service: 's3', Cmd: s3.DeleteObjectCommand },
  deleteBucket: { service: 's3', Cmd: s3.DeleteBucketCommand },
  deleteTable: { service: 'dynamodb', Cmd: dynamodb.DeleteTableCommand },
};

export const AWS_ACTIONS = [
  ...Object.keys(EC2_COMMANDS), ...Object.keys(LOGS_COMMANDS), ...Object.keys(IAM_COMMANDS), ...Object.keys(QUOTAS_COMMANDS), ...Object.keys(BROKER_COMMANDS),
] as AwsAction[];

/** The IAM action name of a port method, e.g. describeVpcs → ec2:DescribeVpcs, getServiceQuota → servicequotas:GetServiceQuota. */
export function iamActionOf(action: AwsAction): string {
  const broker = (BROKER_COMMANDS as Partial<Record<AwsAction, { service: Service; iam?: string }>>)[action];
  if (broker?.iam) return broker.iam;
  const service = broker ? broker.service : action in LOGS_COMMANDS ? 'logs' : action in IAM_COMMANDS ? 'iam' : action in QUOTAS_COMMANDS ? 'servicequotas' : 'ec2';
  return `${service}:${action.charAt(0).toUpperCase()}${action.slice(1)}`;
}

const RETRYABLE = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'ServiceUnavailable', 'InternalError', 'TimeoutError']);

/** The AWS error code behind an error from the port (e.g. 'InsufficientInstanceCapacity'), if any. */
export function awsErrorCode(err: unknown): string | undefined {
  const inner = err instanceof SkiffError ? err.cause : err;
  if (inner instanceof Error) return (inner as { Code?: string }).Code ?? inner.name;
  return undefined;
}

export function wrapAwsError(action: string, err: unknown): SkiffError {
  if (err instanceof SkiffError) return err;
  const code = err instanceof Error ? ((err as { Code?: string }).Code ?? err.name) : 'Unknown';
  const message = err instanceof Error ? err.message : String(err);
  return new SkiffError('PRV_CLOUD_ERROR', `AWS ${action} failed: ${code}: ${message}`, { cause: err, retryable: RETRYABLE.has(code) });
}

export interface SdkPortConfig {
  ec2: ec2.EC2Client;
  logs: logs.CloudWatchLogsClient;
  /** IAM is global. Default: a client with the EC2 client's credentials and endpoint (so an emulator's
   * AWS_ENDPOINT_URL, or a test's explicit endpoint, applies to IAM too), region us-east-1. */
  iam?: iam.IAMClient;
  /** Service Quotas, regional. Default: a client like the EC2 client (same region, credentials and custom endpoint).
   * Tests point it at the stand-in (test/helpers/service-quotas.ts); moto answers NoSuchResourceException for ec2. */
  quotas?: sq.ServiceQuotasClient;
  /** The broker's services (STS, KMS, Secrets Manager, SSM, S3, DynamoDB). Default: clients like the EC2 client. */
  broker?: Partial<Record<Service, { send: (c: unknown, o: unknown) => Promise<unknown> }>>;
  /** Deadline of each call, retries included. Default 60 s. */
  callTimeoutMs?: number;
}

/** The real port: each method sends one SDK command with a deadline. */
export function createSdkPort(cfg: SdkPortConfig): AwsPort {
  const timeoutMs = cfg.callTimeoutMs ?? 60_000;
  const port: Record<string, unknown> = {};
  const bind = (action: string, client: { send: (c: unknown, o: unknown) => Promise<unknown> }, Cmd: AnyCommand) => {
    port[action] = async (input: unknown) => {
      try {
        return await client.send(new Cmd(input), { abortSignal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw wrapAwsError(iamActionOf(action as AwsAction), err);
      }
    };
  };
  for (const [action, Cmd] of Object.entries(EC2_COMMANDS)) bind(action, cfg.ec2 as never, Cmd);
  for (const [action, Cmd] of Object.entries(LOGS_COMMANDS)) bind(action, cfg.logs as never, Cmd);
  const iamClient = cfg.iam ?? iamClientLike(cfg.ec2);
  for (const [action, Cmd] of Object.entries(IAM_COMMANDS)) bind(action, iamClient as never, Cmd);
  const quotasClient = cfg.quotas ?? quotasClientLike(cfg.ec2);
  for (const [action, Cmd] of Object.entries(QUOTAS_COMMANDS)) bind(action, quotasClient as never, Cmd);
  const made = new Map<Service, { send: (c: unknown, o: unknown) => Promise<unknown> }>();
  const clientOf = (service: Service) => {
    let c = cfg.broker?.[service] ?? made.get(service);
    if (!c) {
      c = brokerClientLike(cfg.ec2, service);
      made.set(service, c);
    }
    return c;
  };
  for (const [action, { service, Cmd }] of Object.entries(BROKER_COMMANDS)) {
    // Made on first use: most commands never touch these services.
    port[action] = async (input: unknown) => {
      try {
        return await clientOf(service).send(new Cmd(input), { abortSignal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw wrapAwsError(iamActionOf(action as AwsAction), err);
      }
    };
  }
  return port as unknown as AwsPort;
}

/** A client of the broker's services sharing an EC2 client's region, credentials and (custom) endpoint. */
export function brokerClientLike(client: ec2.EC2Client, service: Service): { send: (c: unknown, o: unknown) => Promise<unknown> } {
  const { credentials, endpoint, isCustomEndpoint, maxAttempts, region } = client.config;
  const cfg = { region, credentials, maxAttempts, ...(isCustomEndpoint && endpoint ? { endpoint } : {}) };
  switch (service) {
    case 'sts': return new sts.STSClient(cfg) as never;
    case 'kms': return new kms.KMSClient(cfg) as never;
    case 'secretsmanager': return new secrets.SecretsManagerClient(cfg) as never;
    case 'ssm': return new ssm.SSMClient(cfg) as never;
    // An emulator on one address cannot serve bucket names as host names.
    case 's3': return new s3.S3Client({ ...cfg, ...(isCustomEndpoint ? { forcePathStyle: true } : {}) }) as never;
    case 'dynamodb': return new dynamodb.DynamoDBClient(cfg) as never;
  }
}

/** A DynamoDB client like the port's (the store's table is made and written through the store's own code). */
export function dynamoClientLike(client: ec2.EC2Client): dynamodb.DynamoDBClient {
  return brokerClientLike(client, 'dynamodb') as unknown as dynamodb.DynamoDBClient;
}

/** A Service Quotas client sharing an EC2 client's region, credentials and (custom) endpoint. */
function quotasClientLike(client: ec2.EC2Client): sq.ServiceQuotasClient {
  const { credentials, endpoint, isCustomEndpoint, maxAttempts, region } = client.config;
  return new sq.ServiceQuotasClient({ region, credentials, maxAttempts, ...(isCustomEndpoint && endpoint ? { endpoint } : {}) });
}

/** An IAM client sharing an EC2 client's credentials and (custom) endpoint. */
function iamClientLike(client: ec2.EC2Client): iam.IAMClient {
  const { credentials, endpoint, isCustomEndpoint, maxAttempts } = client.config;
  return new iam.IAMClient({ region: 'us-east-1', credentials, maxAttempts, ...(isCustomEndpoint && endpoint ? { endpoint } : {}) });
}
