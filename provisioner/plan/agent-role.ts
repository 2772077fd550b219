// The agents' IAM identity, one per cluster: role and instance profile `skiff-agent-<workspace>-<cluster id>`,
// trusted by EC2 only, whose inline policy lets a machine write log events to its own cluster's streams of the
// workspace's log group and nothing else — one cluster's machine cannot forge another cluster's log lines. Each
// such role carries the workspace's permissions boundary (a managed policy `skiff-agent-boundary-<workspace>`
// under the path /skiff/, made by `skiff setup aws`), and the permissions that let `skiff up` create these
// roles demand it (policies.ts): whoever may create an agent role cannot make one that does more than write the
// workspace's logs, whatever inline policy they put on it.
// Pure data; provisioner/aws/agent-role.ts creates and removes them.

import { createHash } from 'node:crypto';
import { clusterStreamPrefix, logGroupFor } from '../../broker/api/logs.js';

export const AGENT_POLICY_NAME = 'skiff-agent-logs';

/** The workspace-wide role an older skiff made (one for every cluster): `network delete` still removes it. */
export function agentRoleName(workspace: string): string {
  return `skiff-agent-${workspace}`;
}

/** A cluster's role and instance profile share this name (IAM names: at most 64 chars; a workspace is at most 31). */
export function clusterAgentRoleName(workspace: string, clusterId: string): string {
  const name = `skiff-agent-${workspace}-${clusterId}`;
  return name.length <= 64 ? name : `skiff-agent-${workspace}-${createHash('sha256').update(clusterId).digest('hex').slice(0, 16)}`;
}

/** The prefix of every cluster role of a workspace (ListRoles finds them, then their tags decide). */
export function clusterAgentRolePrefix(workspace: string): string {
  return `skiff-agent-${workspace}-`;
}

export const AGENT_BOUNDARY_PATH = '/skiff/';

export function agentBoundaryName(workspace: string): string {
  return `skiff-agent-boundary-${workspace}`;
}

export function agentTrustPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
}

/**
 * The workspace's permissions boundary: the five CloudWatch Logs actions an agent's shipper needs, on the
 * workspace's group and its streams only. The group ARN is spelled exactly (and `:*` below it), not as
 * `/skiff/<workspace>*`, so workspace `dev` cannot write to `/skiff/dev2`. (Also the inline policy of the
 * workspace-wide role older skiffs made.)
 */
export function agentLogsPolicy(workspace: string): string {
  const group = `arn:aws:logs:*:*:log-group:${logGroupFor(workspace)}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ShipLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents', 'logs:PutRetentionPolicy'],
        Resource: [group, `${group}:*`, `${group}:log-stream:*`],
      },
    ],
  });
}

/**
 * A cluster's inline policy. PutLogEvents — the write — only on the cluster's own streams
 * (`<cluster id>/<machine>`, broker/api/logs.ts); the group-level calls on the workspace's group, as before:
 * creating a stream (named by the machine's instance id, so not one another cluster's machine will use) and
 * reading stream names, creating the group and setting its retention when it is missing.
 */
export function clusterAgentLogsPolicy(workspace: string, clusterId: string): string {
  const group = `arn:aws:logs:*:*:log-group:${logGroupFor(workspace)}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OwnGroup',
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutRetentionPolicy'],
        Resource: [group, `${group}:*`],
      },
      {
        Sid: 'OwnStreams',
        Effect: 'Allow',
        Action: ['logs:PutLogEvents'],
        Resource: [`${group}:log-stream:${clusterStreamPrefix(clusterId)}*`],
      },
    ],
  });
}
