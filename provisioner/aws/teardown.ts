// Removing a cluster's own resources (never the shared network): instances by tag, then its launch template
// and security groups, then its agents' role and instance profile. Idempotent: a second call finds nothing and does nothing.

import { CLUSTER_TAG, WORKSPACE_TAG } from '../plan/tags.js';
import { deleteClusterAgentRole } from './agent-role.js';
import { awsErrorCode } from './aws-port.js';
import { fromAwsTags, tagFilters, type AwsContext } from './context.js';
import { LIVE_STATES, listInstances, terminateAndWait } from './instances.js';

const SG_DELETE_ATTEMPTS = 10;

export async function destroyClusterResources(ctx: AwsContext, ownerTags: Record<string, string>, clusterId: string): Promise<void> {
  const filters = tagFilters({ ...ownerTags, [CLUSTER_TAG]: clusterId });
  const instances = await listInstances(ctx, [...filters, { Name: 'instance-state-name', Values: LIVE_STATES }]);
  await terminateAndWait(ctx, instances.map((i) => i.InstanceId ?? '').filter(Boolean), filters);
  await deleteLaunchTemplatesAndGroups(ctx, filters, () => true);
  const workspace = ownerTags[WORKSPACE_TAG];
  if (workspace !== undefined) await deleteClusterAgentRole(ctx, workspace, clusterId);
}

/** Deletes the launch templates and security groups matching `filters` whose cluster tag passes `keep`=false. */
export async function deleteLaunchTemplatesAndGroups(
  ctx: AwsContext,
  filters: ReturnType<typeof tagFilters>,
  owned: (clusterId: string) => boolean,
): Promise<void> {
  const lts = await ctx.port.describeLaunchTemplates({ Filters: filters });
  for (const lt of lts.LaunchTemplates ?? []) {
    const cluster = fromAwsTags(lt.Tags)[CLUSTER_TAG];
    if (!lt.LaunchTemplateId || cluster === undefined || !owned(cluster)) continue;
    await ctx.port.deleteLaunchTemplate({ LaunchTemplateId: lt.LaunchTemplateId });
  }
  const sgs = await ctx.port.describeSecurityGroups({ Filters: filters });
  for (const sg of sgs.SecurityGroups ?? []) {
    const cluster = fromAwsTags(sg.Tags)[CLUSTER_TAG];
    if (!sg.GroupId || cluster === undefined || !owned(cluster)) continue;
    await deleteGroup(ctx, sg.GroupId);
  }
}

/** Network interfaces of terminated instances linger for a while: DependencyViolation is retried, bounded. */
async function deleteGroup(ctx: AwsContext, groupId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.port.deleteSecurityGroup({ GroupId: groupId });
      return;
    } catch (err) {
      const code = awsErrorCode(err);
      if (code === 'InvalidGroup.NotFound') return;
      if (code !== 'DependencyViolation' || attempt >= SG_DELETE_ATTEMPTS) throw err;
      await ctx.sleep(ctx.pollIntervalMs * attempt);
    }
  }
}
