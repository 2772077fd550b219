// The workspace's CloudWatch log group (stream per instance, written by the agents), retention set.

import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';

export async function ensureLogGroup(ctx: AwsContext, group: AwsClusterPlan['logGroup']): Promise<void> {
  const found = await ctx.port.describeLogGroups({ logGroupNamePrefix: group.name, limit: 5 });
  const existing = found.logGroups?.find((g) => g.logGroupName === group.name);
  if (!existing) {
    try {
      await ctx.port.createLogGroup({ logGroupName: group.name, tags: group.tags });
    } catch (err) {
      if (awsErrorCode(err) !== 'ResourceAlreadyExistsException') throw err;
    }
  }
  if (existing?.retentionInDays !== group.retentionDays) {
    await ctx.port.putRetentionPolicy({ logGroupName: group.name, retentionInDays: group.retentionDays });
  }
}
