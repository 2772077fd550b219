// The workspace's CloudWatch log group (stream per instance, written by the agents). skiff sets the retention
// only on a group it creates: an existing group keeps the retention its owner chose (or none: never expire),
// as the README promises. PutRetentionPolicy replaces whatever retention a group has
// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html), so it is
// never called on a group skiff found.

import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';

export async function ensureLogGroup(ctx: AwsContext, group: AwsClusterPlan['logGroup']): Promise<void> {
  const found = await ctx.port.describeLogGroups({ logGroupNamePrefix: group.name, limit: 5 });
  if (found.logGroups?.some((g) => g.logGroupName === group.name)) return;
  try {
    await ctx.port.createLogGroup({ logGroupName: group.name, tags: group.tags });
  } catch (err) {
    // Made meanwhile by another run (or its retention already chosen by someone): it is not skiff's to change.
    if (awsErrorCode(err) === 'ResourceAlreadyExistsException') return;
    throw err;
  }
  await ctx.port.putRetentionPolicy({ logGroupName: group.name, retentionInDays: group.retentionDays });
}
