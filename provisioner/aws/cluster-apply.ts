// apply for one cluster: read-only checks, then the shared network (find-or-create), the log group, the
// agents' instance profile (find-or-create, unless the user named one), the cluster's security groups, launch template, scheduler and workers. Machines already launched by an earlier
// run of the same cluster are kept, so a rerun converges. If a step fails after anything may have been
// created, the cluster's own resources are removed before the error is rethrown (the shared network and the
// agents' role stay: they belong to the workspace, and the next run completes them).

import type { Machine } from '../backend.js';
import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { ROLE_TAG } from '../plan/tags.js';
import { buildUserData, type AgentBundleRef, type NodeRuntime } from '../plan/user-data.js';
import { fromAwsTags, type AwsContext } from './context.js';
import { clusterFilter, listInstances, toMachines } from './instances.js';
import { agentProfileForLaunch } from './agent-role.js';
import { ensureLaunchTemplate, launchScheduler, launchWorkers } from './launch.js';
import { ensureLogGroup } from './log-group.js';
import { ensureNetwork } from './network-apply.js';
import { checkByoNetwork, checkInstanceTypes, resolveImage } from './preflight.js';
import { ensureSecurityGroups } from './security-groups.js';
import { destroyClusterResources } from './teardown.js';

export interface ApplySecrets {
  brokerUrl: string;
  enrolTokens: { scheduler: string; worker: string };
  bundle: AgentBundleRef;
  node?: NodeRuntime;
}

interface Placement {
  vpcId: string;
  schedulerSubnetId: string;
  workerSubnetId: string;
  groups?: { scheduler: string; cluster: string };
}

export async function applyCluster(ctx: AwsContext, plan: AwsClusterPlan, secrets: ApplySecrets): Promise<Machine[]> {
  const userData = (token: string) => buildUserData({ brokerUrl: secrets.brokerUrl, enrolToken: token, bundle: secrets.bundle, ...(secrets.node ? { node: secrets.node } : {}) });
  const schedulerUserData = userData(secrets.enrolTokens.scheduler);
  const workerUserData = userData(secrets.enrolTokens.worker);

  // Read-only: nothing exists yet, so a failure here needs no cleanup.
  await checkInstanceTypes(ctx, plan);
  const imageId = await resolveImage(ctx, plan);
  const byo = plan.network.kind === 'byo' ? await checkByoNetwork(ctx, plan.network) : undefined;

  try {
    let placement: Placement;
    if (byo) {
      const sgs = plan.securityGroups.kind === 'byo' ? plan.securityGroups : undefined;
      placement = { vpcId: byo.vpcId, schedulerSubnetId: byo.schedulerSubnetId, workerSubnetId: byo.workerSubnetId };
      if (sgs) placement.groups = { scheduler: sgs.schedulerGroupId, cluster: sgs.clusterGroupId };
    } else if (plan.network.kind === 'managed') {
      const net = await ensureNetwork(ctx, plan.network);
      const zone = net.subnets[plan.zone];
      placement = {
        vpcId: net.vpcId,
        schedulerSubnetId: zone?.public ?? '',
        workerSubnetId: (plan.workers.publicIp ? zone?.public : zone?.private) ?? '',
      };
    } else {
      throw new Error('unreachable');
    }
    await ensureLogGroup(ctx, plan.logGroup);
    const instanceProfile = plan.launchTemplate.instanceProfile ?? (await agentProfileForLaunch(ctx, plan.workspace, plan.logGroup.tags));
    const groups =
      placement.groups ??
      (plan.securityGroups.kind === 'managed'
        ? await ensureSecurityGroups(ctx, placement.vpcId, plan.clusterTags, plan.securityGroups)
        : { scheduler: '', cluster: '' });
    const launchTemplateId = await ensureLaunchTemplate(ctx, plan, { imageId, workerUserData, clusterGroupId: groups.cluster, instanceProfile });

    const existing = await listInstances(ctx, clusterFilter(plan.clusterId));
    const hasScheduler = existing.some((i) => fromAwsTags(i.Tags)[ROLE_TAG] === 'scheduler');
    const workersRunning = existing.filter((i) => fromAwsTags(i.Tags)[ROLE_TAG] === 'worker').length;
    if (!hasScheduler) {
      await launchScheduler(ctx, plan, {
        launchTemplateId,
        subnetId: placement.schedulerSubnetId,
        groupIds: [...new Set([groups.scheduler, groups.cluster])],
        userData: schedulerUserData,
      });
    }
    if (plan.workers.count > workersRunning) {
      await launchWorkers(ctx, plan, { launchTemplateId, subnetId: placement.workerSubnetId, count: plan.workers.count - workersRunning });
    }
    return toMachines(await listInstances(ctx, clusterFilter(plan.clusterId)));
  } catch (err) {
    ctx.log.warn({ clusterId: plan.clusterId, err: err instanceof Error ? err.message : String(err) }, 'apply failed; removing the cluster resources');
    try {
      await destroyClusterResources(ctx, { owner: 'skiff', 'skiff:workspace': plan.workspace }, plan.clusterId);
    } catch (cleanupErr) {
      ctx.log.error({ clusterId: plan.clusterId, err: cleanupErr instanceof Error ? cleanupErr.message : String(cleanupErr) }, 'cleanup after a failed apply failed; run skiff gc');
    }
    throw err;
  }
}
