// The small port through which the aws backend talks to AWS: one method per API action it uses, each named
// after the action. Tests wrap it (see instrument-port.ts) to record every action and fail the k-th call.
// SDK errors are wrapped here into SkiffError PRV_CLOUD_ERROR, the AWS error name kept as `cause`.

import * as ec2 from '@aws-sdk/client-ec2';
import * as logs from '@aws-sdk/client-cloudwatch-logs';
import * as iam from '@aws-sdk/client-iam';
import * as sq from '@aws-sdk/client-service-quotas';
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
  // CloudWatch Logs
  describeLogGroups: Op<logs.DescribeLogGroupsCommandInput, logs.DescribeLogGroupsCommandOutput>;
  createLogGroup: Op<logs.CreateLogGroupCommandInput, logs.CreateLogGroupCommandOutput>;
  putRetentionPolicy: Op<logs.PutRetentionPolicyCommandInput, logs.PutRetentionPolicyCommandOutput>;
  getLogEvents: Op<logs.GetLogEventsCommandInput, logs.GetLogEventsCommandOutput>;
  // IAM (global): the agents' role and instance profile, one per workspace
  getRole: Op<iam.GetRoleCommandInput, iam.GetRoleCommandOutput>;
  createRole: Op<iam.CreateRoleCommandInput, iam.CreateRoleCommandOutput>;
  putRolePolicy: Op<iam.PutRolePolicyCommandInput, iam.PutRolePolicyCommandOutput>;
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
  getAWSDefaultServiceQuota: Op<sq.GetAWSDefaultServiceQuotaCommandInput, sq.GetAWSDefaultServiceQuotaCommandOutput>;
}

export type AwsAction = keyof AwsPort;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = new (input: any) => any;

const EC2_COMMANDS: Record<Exclude<AwsAction, LogsAction | IamAction | QuotasAction>, AnyCommand> = {
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
};

type LogsAction = 'describeLogGroups' | 'createLogGroup' | 'putRetentionPolicy' | 'getLogEvents';
const LOGS_COMMANDS: Record<LogsAction, AnyCommand> = {
  describeLogGroups: logs.DescribeLogGroupsCommand,
  createLogGroup: logs.CreateLogGroupCommand,
  putRetentionPolicy: logs.PutRetentionPolicyCommand,
  getLogEvents: logs.GetLogEventsCommand,
};

type IamAction =
  | 'getRole'
  | 'createRole'
  | 'putRolePolicy'
  | 'deleteRolePolicy'
  | 'deleteRole'
  | 'getInstanceProfile'
  | 'createInstanceProfile'
  | 'addRoleToInstanceProfile'
  | 'removeRoleFromInstanceProfile'
  | 'deleteInstanceProfile'
  | 'createServiceLinkedRole';
const IAM_COMMANDS: Record<IamAction, AnyCommand> = {
  getRole: iam.GetRoleCommand,
  createRole: iam.CreateRoleCommand,
  putRolePolicy: iam.PutRolePolicyCommand,
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

export const AWS_ACTIONS = [...Object.keys(EC2_COMMANDS), ...Object.keys(LOGS_COMMANDS), ...Object.keys(IAM_COMMANDS), ...Object.keys(QUOTAS_COMMANDS)] as AwsAction[];

/** The IAM action name of a port method, e.g. describeVpcs → ec2:DescribeVpcs, getServiceQuota → servicequotas:GetServiceQuota. */
export function iamActionOf(action: AwsAction): string {
  const service = action in LOGS_COMMANDS ? 'logs' : action in IAM_COMMANDS ? 'iam' : action in QUOTAS_COMMANDS ? 'servicequotas' : 'ec2';
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
  return port as unknown as AwsPort;
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
