// Removing a cluster's own resources (never the shared network): instances by tag, then its launch template
// and security groups, then its agents' role and instance profile. Idempotent: a second call finds nothing and does nothing.

import { CLUSTER_TAG, WORKSPACE_TAG } from '../plan/tags.js';
import { deleteClusterAgentRole } from './agent-role.js';
import { awsErrorCode } from './aws-port.js';
import { fromAwsTags, tagFilters, type AwsContext } from './context.js';
import { LIVE_STATES, listInstances, terminateAndWait } from './instances.js';

/** Attempts of a delete that EC2 refuses with DependencyViolation; the n-th wait is n × pollIntervalMs. */
export const DEPENDENCY_ATTEMPTS = 10;

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

/**
 * Runs a delete, retrying DependencyViolation with a bounded backoff (DEPENDENCY_ATTEMPTS, waiting
 * n × pollIntervalMs after the n-th refusal): the network interfaces of a terminated instance or a deleted NAT
 * gateway linger for a while, and EC2 refuses to delete what they sit in until they are gone ("The subnet … has
 * dependencies and cannot be deleted", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html,
 * DependencyViolation). A NotFound answer (`gone`) is success: someone deleted it first.
 */
export async function deleteRetryingDependencies(ctx: AwsContext, del: () => Promise<unknown>, gone: (code: string) => boolean): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await del();
      return;
    } catch (err) {
      const code = awsErrorCode(err) ?? '';
      if (gone(code)) return;
      if (code !== 'DependencyViolation' || attempt >= DEPENDENCY_ATTEMPTS) throw err;
      ctx.log.info({ attempt }, 'DependencyViolation; retrying the delete');
      await ctx.sleep(ctx.pollIntervalMs * attempt);
    }
  }
}

async function deleteGroup(ctx: AwsContext, groupId: string): Promise<void> {
  await deleteRetryingDependencies(ctx, () => ctx.port.deleteSecurityGroup({ GroupId: groupId }), (code) => code === 'InvalidGroup.NotFound');
}
