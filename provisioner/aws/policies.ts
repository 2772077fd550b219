// The two IAM policy documents skiff needs, shaped like Coiled's: "setup" (create and remove the shared
// network and the agents' role; may be detached afterwards) and "ongoing" (run clusters). Destructive actions
// only on resources tagged owner=skiff; IAM actions only on `skiff-agent-*` roles and instance profiles. A test runs every code path against moto with the port recording each action and
// fails on one these documents do not allow.

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
        Sid: 'SetupAgentRoleRead',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:GetInstanceProfile', 'iam:GetRole'],
      },
      {
        // Created only carrying owner=skiff, so the statements below can hold them to it.
        Sid: 'SetupAgentRoleCreate',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:CreateInstanceProfile', 'iam:CreateRole', 'iam:TagInstanceProfile', 'iam:TagRole'],
        Condition: { StringEquals: { 'aws:RequestTag/owner': 'skiff' } },
      },
      {
        // AddRoleToInstanceProfile passes the role, hence PassRole here.
        Sid: 'SetupAgentRoleModify',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:AddRoleToInstanceProfile', 'iam:PassRole', 'iam:PutRolePolicy'],
        Condition: IAM_OWNED_BY_SKIFF,
      },
      {
        Sid: 'SetupAgentRoleDestructive',
        Effect: 'Allow',
        Resource: [AGENT_ROLES, AGENT_PROFILES],
        Action: ['iam:DeleteInstanceProfile', 'iam:DeleteRole', 'iam:DeleteRolePolicy', 'iam:RemoveRoleFromInstanceProfile'],
        Condition: IAM_OWNED_BY_SKIFF,
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
        Resource: ['arn:aws:iam::*:instance-profile/skiff-*', 'arn:aws:iam::*:role/skiff-*'],
        Action: ['iam:GetInstanceProfile', 'iam:GetRole'],
      },
      {
        // Launching with the agents' instance profile passes its role to EC2, and to EC2 only.
        Sid: 'OngoingPassRole',
        Effect: 'Allow',
        Resource: 'arn:aws:iam::*:role/skiff-*',
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

/** The actions of statements conditioned on the resource being tagged owner=skiff (EC2 or IAM spelling). */
export function destructiveActions(doc: PolicyDocument): string[] {
  const owned = (s: PolicyStatement) => ['ec2:ResourceTag/owner', 'aws:ResourceTag/owner'].some((k) => s.Condition?.['StringEquals']?.[k] === 'skiff');
  return doc.Statement.filter(owned).flatMap((s) => s.Action);
}
