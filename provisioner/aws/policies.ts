// The two IAM policy documents skiff needs, shaped like Coiled's: "setup" (create and remove the shared
// network and the agents' permissions boundary; may be detached afterwards) and "ongoing" (run clusters, each
// with an agent role of its own). Destructive actions only on resources tagged owner=skiff; IAM actions only on
// `skiff-agent-*` roles and instance profiles and skiff's boundary policies; a role can be created, or given an
// inline policy, only with the workspace's boundary on it, so these permissions never make a role that does more
// than write a workspace's logs (AWS's pattern for delegating role creation: IAM User Guide, "Permissions
// boundaries for IAM entities"). A test runs every code path against moto with the port recording each action
// and fails on one these documents do not allow.

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Resource: string | string[];
  Action: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

const OWNED_BY_SKIFF = { StringEquals: { 'ec2:ResourceTag/owner': 'skiff' } };
// IAM's spelling of the same condition (aws:ResourceTag covers both roles and instance profiles).
const IAM_OWNED_BY_SKIFF = { StringEquals: { 'aws:ResourceTag/owner': 'skiff' } };
const AGENT_ROLES = 'arn:aws:iam::*:role/skiff-agent-*';
const AGENT_PROFILES = 'arn:aws:iam::*:instance-profile/skiff-agent-*';
const AGENT_BOUNDARIES = 'arn:aws:iam::*:policy/skiff/skiff-agent-boundary-*';
const WITH_BOUNDARY = { StringLike: { 'iam:PermissionsBoundary': AGENT_BOUNDARIES } };
// The deployed broker's own role and profile (issue 19), made and removed by setup/teardown like the agents'.
const BROKER_ROLES = 'arn:aws:iam::*:role/skiff-broker-*';
const BROKER_PROFILES = 'arn:aws:iam::*:instance-profile/skiff-broker-*';
// What setup makes for the deployed broker, named by skiff's prefixes (plan/broker-plan.ts).
const BROKER_PARAMETERS = 'arn:aws:ssm:*:*:parameter/skiff/*';
const BROKER_SECRETS = 'arn:aws:secretsmanager:*:*:secret:skiff/*';
const BROKER_TABLES = 'arn:aws:dynamodb:*:*:table/skiff-*';
const BROKER_BUCKETS = ['arn:aws:s3:::skiff-*', 'arn:aws:s3:::skiff-*/*'];
const WORKSPACE_KEY_ALIASES = 'arn:aws:kms:*:*:alias/skiff-*';

const DESCRIBE = [
  'ec2:DescribeAddresses',
  'ec2:DescribeAvailabilityZones',
  'ec2:DescribeImages',
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeInstances',
  'ec2:DescribeInternetGateways',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:DescribeLaunchTemplates',
  'ec2:DescribeNatGateways',
  'ec2:DescribeRegions',
  'ec2:DescribeRouteTables',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeSubnets',
  'ec2:DescribeVpcAttribute',
  'ec2:DescribeVpcs',
  // plan() and setup read the vCPU quotas (read-only; Service Quotas has no resource-level permissions).
  'servicequotas:GetServiceQuota',
  'servicequotas:GetAWSDefaultServiceQuota',
];

export function setupPolicy(): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Setup',
        Effect: 'Allow',
        Resource: '*',
        Action: [
          'ec2:AllocateAddress',
          'ec2:AssociateRouteTable',
          // The broker instance: its security group, its launch and its Elastic IP.
          'ec2:AuthorizeSecurityGroupIngress',
          'ec2:CreateSecurityGroup',
          'ec2:RunInstances',
          'ec2:AttachInternetGateway',
          'ec2:CreateInternetGateway',
          'ec2:CreateNatGateway',
          'ec2:CreateRoute',
          'ec2:CreateRouteTable',
          'ec2:CreateSubnet',
          'ec2:CreateTags',
          'ec2:CreateVpc',
          'ec2:ModifySubnetAttribute',
          'ec2:ModifyVpcAttribute',
          ...DESCRIBE,
          'logs:CreateLogGroup',
          'logs:DescribeLogGroups',
          'logs:PutRetentionPolicy',
          'logs:TagLogGroup',
          'logs:TagResource',
        ],
      },
      {
        Sid: 'SetupDestructive',
        Effect: 'Allow',
        Resource: '*',
        Action: [
          'ec2:DeleteInternetGateway',
          'ec2:DeleteNatGateway',
          'ec2:DeleteRouteTable',
          'ec2:DeleteSecurityGroup',
          'ec2:DeleteSubnet',
          'ec2:DeleteVpc',
          'ec2:DetachInternetGateway',
          'ec2:DisassociateRouteTable',
          'ec2:ReleaseAddress',
          // The broker's Elastic IP onto the broker instance (both tagged), and the broker instance at teardown.
          'ec2:AssociateAddress',
          'ec2:TerminateInstances',
        ],
        Condition: OWNED_BY_SKIFF,
      },
      {
        Sid: 'SetupFleetServiceRoles',
        Effect: 'Allow',
        Resource: '*',
        Action: ['iam:CreateServiceLinkedRole'],
        Condition: { StringEquals: { 'iam:AWSServiceName': ['ec2fleet.amazonaws.com', 'spot.amazonaws.com'] } },
      },
      {
        // Whether the Spot service-linked role exists already (setup creates it only when it does not).
        Sid: 'SetupSpotRoleRead',
        Effect: 'Allow',
        Resource: 'arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot',
        Action: ['iam:GetRole'],
      },
      {
        // The workspace's permissions boundary for its clusters' agent roles (a managed policy under /skiff/).
        Sid: 'SetupAgentBoundary',
        Effect: 'Allow',
        Resource: AGENT_BOUNDARIES,
        Action: ['iam:CreatePolicy', 'iam:TagPolicy'],
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'skiff' } },
      },
      {
        Sid: 'SetupAgentBoundaryDelete',
        Effect: 'Allow',
        Resource: AGENT_BOUNDARIES,
        Action: ['iam:DeletePolicy'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        // network delete finds what is left of the workspace's agent roles.
        Sid: 'SetupAgentRoleRead',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES, BROKER_ROLES, BROKER_PROFILES],
        Action: ['iam:GetInstanceProfile', 'iam:GetRole', 'iam:GetRolePolicy'],
      },
      {
        Sid: 'SetupIamList',
        Effect: 'Allow',
        Resource: '*',
        Action: ['iam:ListPolicies', 'iam:ListRoles'],
      },
      {
        // The deployed broker's own role and profile: created only carrying owner=skiff.
        Sid: 'SetupBrokerRoleCreate',
        Effect: 'Allow',
        Resource: [BROKER_ROLES, BROKER_PROFILES],
        Action: ['iam:CreateInstanceProfile', 'iam:CreateRole', 'iam:TagInstanceProfile', 'iam:TagRole'],
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'skiff' } },
      },
      {
        // AddRoleToInstanceProfile passes the role, hence PassRole here.
        Sid: 'SetupBrokerRoleModify',
        Effect: 'Allow',
        Resource: [BROKER_ROLES, BROKER_PROFILES],
        Action: ['iam:AddRoleToInstanceProfile', 'iam:PassRole', 'iam:PutRolePolicy'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        Sid: 'SetupAgentRoleDestructive',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES, BROKER_ROLES, BROKER_PROFILES],
        Action: ['iam:DeleteInstanceProfile', 'iam:DeleteRole', 'iam:DeleteRolePolicy', 'iam:RemoveRoleFromInstanceProfile'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        // Who runs setup becomes the broker's first admin (needs no permission; listed so the document is complete).
        Sid: 'SetupCaller',
        Effect: 'Allow',
        Resource: '*',
        Action: ['sts:GetCallerIdentity'],
      },
      {
        // The workspace key is made tagged owner=skiff; its alias is alias/skiff-<workspace>.
        Sid: 'SetupWorkspaceKeyCreate',
        Effect: 'Allow',
        Resource: '*',
        Action: ['kms:CreateKey', 'kms:TagResource'],
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'skiff' } },
      },
      {
        Sid: 'SetupWorkspaceKeyAlias',
        Effect: 'Allow',
        Resource: [WORKSPACE_KEY_ALIASES, 'arn:aws:kms:*:*:key/*'],
        Action: ['kms:CreateAlias', 'kms:DeleteAlias', 'kms:DescribeKey'],
      },
      {
        // Storing the broker CA encrypts it with the workspace key through Secrets Manager, and only so.
        Sid: 'SetupWorkspaceKeyUse',
        Effect: 'Allow',
        Resource: '*',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Condition: { StringEquals: { 'aws:ResourceTag/owner': 'skiff' }, StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } },
      },
      {
        Sid: 'SetupWorkspaceKeyDestructive',
        Effect: 'Allow',
        Resource: '*',
        Action: ['kms:ScheduleKeyDeletion'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        Sid: 'SetupBrokerCa',
        Effect: 'Allow',
        Resource: BROKER_SECRETS,
        Action: ['secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:TagResource'],
      },
      {
        Sid: 'SetupBrokerRecord',
        Effect: 'Allow',
        Resource: BROKER_PARAMETERS,
        Action: ['ssm:AddTagsToResource', 'ssm:DeleteParameter', 'ssm:GetParameter', 'ssm:PutParameter'],
      },
      {
        Sid: 'SetupBrokerBundle',
        Effect: 'Allow',
        Resource: BROKER_BUCKETS,
        Action: ['s3:CreateBucket', 's3:DeleteBucket', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutBucketPublicAccessBlock', 's3:PutBucketTagging', 's3:PutObject'],
      },
      {
        // The broker's store: made once with point-in-time recovery, its first admin grant written, removed at teardown.
        Sid: 'SetupBrokerTable',
        Effect: 'Allow',
        Resource: BROKER_TABLES,
        Action: ['dynamodb:CreateTable', 'dynamodb:DeleteTable', 'dynamodb:DescribeTable', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:TagResource', 'dynamodb:UpdateContinuousBackups'],
      },
    ],
  };
}

export function ongoingPolicy(): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Ongoing',
        Effect: 'Allow',
        Resource: '*',
        Action: [
          'ec2:AuthorizeSecurityGroupIngress',
          'ec2:CreateFleet',
          'ec2:CreateLaunchTemplate',
          'ec2:CreateSecurityGroup',
          'ec2:CreateTags',
          ...DESCRIBE,
          'ec2:RunInstances',
          'logs:CreateLogStream',
          'logs:DescribeLogGroups',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
          'logs:PutRetentionPolicy',
        ],
      },
      {
        Sid: 'OngoingInstanceProfile',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:GetInstanceProfile', 'iam:GetRole'],
      },
      {
        // up finds the workspace's boundary; gc lists the agent roles.
        Sid: 'OngoingIamList',
        Effect: 'Allow',
        Resource: '*',
        Action: ['iam:ListPolicies', 'iam:ListRoles'],
      },
      {
        // Each cluster's agent role: created only carrying owner=skiff and the workspace's boundary.
        Sid: 'OngoingAgentRoleCreate',
        Effect: 'Allow',
        Resource: AGENT_ROLES,
        Action: ['iam:CreateRole'],
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'skiff' }, ...WITH_BOUNDARY },
      },
      {
        Sid: 'OngoingAgentProfileCreate',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:CreateInstanceProfile', 'iam:TagInstanceProfile', 'iam:TagRole'],
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'skiff' } },
      },
      {
        // Whatever inline policy is put on a role, its boundary caps it.
        Sid: 'OngoingAgentRolePolicy',
        Effect: 'Allow',
        Resource: AGENT_ROLES,
        Action: ['iam:PutRolePolicy'],
        Condition: { ...IAM_OWNED_BY_SKIFF, ...WITH_BOUNDARY },
      },
      {
        // AddRoleToInstanceProfile passes the role (PassRole below, to EC2 only).
        Sid: 'OngoingAgentProfileModify',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:AddRoleToInstanceProfile'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        // down removes the cluster's role and profile.
        Sid: 'OngoingAgentRoleDestructive',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:DeleteInstanceProfile', 'iam:DeleteRole', 'iam:DeleteRolePolicy', 'iam:RemoveRoleFromInstanceProfile'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        // Launching with the agents' instance profile passes its role to EC2, and to EC2 only.
        Sid: 'OngoingPassRole',
        Effect: 'Allow',
        Resource: AGENT_ROLES,
        Action: ['iam:PassRole'],
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      },
      {
        Sid: 'OngoingDestructive',
        Effect: 'Allow',
        Resource: '*',
        // CreateLaunchTemplateVersion: a scale step gives the cluster's own template fresh user-data (a new enrol token).
        Action: ['ec2:CreateLaunchTemplateVersion', 'ec2:DeleteFleets', 'ec2:DeleteLaunchTemplate', 'ec2:DeleteSecurityGroup', 'ec2:TerminateInstances'],
        Condition: OWNED_BY_SKIFF,
      },
      {
        // A network made by an older skiff gets its public subnets' auto-assign public IPv4 turned on at the next up.
        Sid: 'OngoingPublicSubnets',
        Effect: 'Allow',
        Resource: '*',
        Action: ['ec2:ModifySubnetAttribute'],
        Condition: OWNED_BY_SKIFF,
      },
      {
        // The CLI finds the workspace's deployed broker (URL and CA) in its SSM record.
        Sid: 'OngoingFindBroker',
        Effect: 'Allow',
        Resource: BROKER_PARAMETERS,
        Action: ['ssm:GetParameter'],
      },
      {
        Sid: 'OptionalLogPull',
        Effect: 'Allow',
        Resource: '*',
        Action: ['logs:FilterLogEvents', 'logs:GetLogEvents'],
      },
    ],
  };
}

/** Every action the two documents allow, e.g. for a test that records the calls the code makes. */
export function allowedActions(...docs: PolicyDocument[]): Set<string> {
  return new Set(docs.flatMap((d) => d.Statement.flatMap((s) => s.Action)));
}

/** The actions of statements conditioned on the resource being tagged owner=skiff (EC2 or IAM/KMS spelling). */
export function destructiveActions(doc: PolicyDocument): string[] {
  const owned = (s: PolicyStatement) => ['ec2:ResourceTag/owner', 'aws:ResourceTag/owner'].some((k) => s.Condition?.['StringEquals']?.[k] === 'skiff');
  return doc.Statement.filter(owned).flatMap((s) => s.Action);
}
