// The agents' IAM identity, one per workspace: role and instance profile `skiff-agent-<workspace>`, trusted
// by EC2 only, with one inline policy that lets an agent write to its workspace's log group and nothing else.
// Pure data; provisioner/aws/agent-role.ts creates and removes it.

import { logGroupFor } from '../../broker/api/logs.js';

export const AGENT_POLICY_NAME = 'skiff-agent-logs';

/** Role and instance profile share this name (IAM names: at most 64 chars; a workspace is at most 31). */
export function agentRoleName(workspace: string): string {
  return `skiff-agent-${workspace}`;
}

export function agentTrustPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
}

/**
 * The agent's inline policy: the five CloudWatch Logs actions its shipper needs, on the workspace's group and
 * its streams only. The group ARN is spelled exactly (and `:*` below it), not as `/skiff/<workspace>*`,
 * so workspace `dev` cannot write to `/skiff/dev2`.
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
