// apply for one cluster: the shared network (find-or-create), the log group, the agents' instance profile
// (find-or-create, unless the user named one), the cluster's security groups, launch template, scheduler and
// workers. Every read-only check ran in plan() and its facts (zones, images, instance types) are in the plan, so
// nothing is looked up again. Machines already launched by an earlier run of the same cluster are kept, so a
// rerun converges. If a step fails after anything may have been created, the cluster's own resources are removed
// before the error is rethrown (the shared network and the agents' role stay: they belong to the workspace, and
// the next run completes them). Fewer workers than asked is not a failure down to min_workers.

import type { Instance } from '@aws-sdk/client-ec2';
import { SkiffError } from '../../broker/api/errors.js';
import type { Machine } from '../backend.js';
import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { ROLE_TAG } from '../plan/tags.js';
import { buildUserData, type AgentBundleRef, type NodeRuntime } from '../plan/user-data.js';
import { fromAwsTags, type AwsContext } from './context.js';
import { clusterFilter, describeByIds, listInstances, toMachines, waitForAddresses } from './instances.js';
import { agentProfileForLaunch } from './agent-role.js';
import { ensureLaunchTemplate, launchScheduler, launchWorkers } from './launch.js';
import { ensureLogGroup } from './log-group.js';
import { ensureNetwork } from './network-apply.js';
import { ensureSecurityGroups } from './security-groups.js';
import { destroyClusterResources } from './teardown.js';

export interface ApplySecrets {
  brokerUrl: string;
  /** The broker's CA certificate (public), pinned in the user-data. */
  brokerCaPem?: string;
  enrolTokens: { scheduler: string; worker: string };
  bundle: AgentBundleRef;
  node?: NodeRuntime;
}

export interface Placement {
  vpcId: string;
  schedulerSubnetId: string;
  /** One per zone the workers may use. */
  workerSubnetIds: string[];
  groups?: { scheduler: string; cluster: string };
}

/** Where the cluster's machines go (the shared network is found, or completed). */
export async function place(ctx: AwsContext, plan: AwsClusterPlan): Promise<Placement> {
  if (plan.network.kind === 'byo') {
    const n = plan.network;
    const p: Placement = { vpcId: n.networkId, schedulerSubnetId: n.schedulerSubnetId, workerSubnetIds: [n.workerSubnetId] };
    if (plan.securityGroups.kind === 'byo') p.groups = { scheduler: plan.securityGroups.schedulerGroupId, cluster: plan.securityGroups.clusterGroupId };
    return p;
  }
  const net = await ensureNetwork(ctx, plan.network);
  const tier = plan.workers.publicIp ? 'public' : 'private';
  return {
    vpcId: net.vpcId,
    schedulerSubnetId: net.subnets[plan.zone]?.public ?? '',
    workerSubnetIds: plan.workers.zones.map((z) => net.subnets[z]?.[tier] ?? '').filter(Boolean),
  };
}

export async function applyCluster(ctx: AwsContext, plan: AwsClusterPlan, secrets: ApplySecrets): Promise<Machine[]> {
  if (plan.version !== 2) {
    throw new SkiffError('PRV_INVALID_REQUEST', `the plan of cluster ${plan.clusterId} was made by an older skiff; run skiff up again to plan it anew`);
  }
  const userData = (token: string) =>
    buildUserData({
      brokerUrl: secrets.brokerUrl,
      enrolToken: token,
      bundle: secrets.bundle,
      ...(secrets.node ? { node: secrets.node } : {}),
      ...(secrets.brokerCaPem ? { brokerCaPem: secrets.brokerCaPem } : {}),
    });
  const schedulerUserData = userData(secrets.enrolTokens.scheduler);
  const workerUserData = userData(secrets.enrolTokens.worker);

  try {
    const placement = await place(ctx, plan);
    await ensureLogGroup(ctx, plan.logGroup);
    const instanceProfile = plan.launchTemplate.instanceProfile ?? (await agentProfileForLaunch(ctx, plan.workspace, plan.clusterId, plan.logGroup.tags));
    const groups =
      placement.groups ??
      (plan.securityGroups.kind === 'managed'
        ? await ensureSecurityGroups(ctx, placement.vpcId, plan.clusterTags, plan.securityGroups)
        : { scheduler: '', cluster: '' });
    const launchTemplateId = await ensureLaunchTemplate(ctx, plan, { imageId: plan.images.worker.imageId, workerUserData, clusterGroupId: groups.cluster, instanceProfile });

    const existing = await listInstances(ctx, clusterFilter(plan.clusterId));
    let schedulerId = existing.find((i) => fromAwsTags(i.Tags)[ROLE_TAG] === 'scheduler')?.InstanceId;
    const workersRunning = existing.filter((i) => fromAwsTags(i.Tags)[ROLE_TAG] === 'worker').length;
    schedulerId ??= await launchScheduler(ctx, plan, {
      imageId: plan.images.scheduler.imageId,
      subnetId: placement.schedulerSubnetId,
      groupIds: [...new Set([groups.scheduler, groups.cluster])],
      userData: schedulerUserData,
      instanceProfile,
    });
    const launched: string[] = [];
    if (plan.workers.count > workersRunning) {
      const out = await launchWorkers(ctx, plan, {
        launchTemplateId,
        subnetIds: placement.workerSubnetIds,
        count: plan.workers.count - workersRunning,
        minCount: Math.max(0, plan.workers.minCount - workersRunning),
      });
      launched.push(...out.ids);
    }
    // The broker must never see an empty address: wait for the scheduler's, by id (the consistent read).
    const scheduler = await waitForAddresses(ctx, schedulerId, true);
    return toMachines(await listWithLaunched(ctx, plan.clusterId, [scheduler], launched), plan.instanceTypes);
  } catch (err) {
    ctx.log.warn({ clusterId: plan.clusterId, err }, 'apply failed; removing the cluster resources');
    try {
      await destroyClusterResources(ctx, { owner: 'skiff', 'skiff:workspace': plan.workspace }, plan.clusterId);
    } catch (cleanupErr) {
      ctx.log.error({ clusterId: plan.clusterId, err: cleanupErr instanceof Error ? cleanupErr.message : String(cleanupErr) }, 'cleanup after a failed apply failed; run skiff gc');
    }
    throw err;
  }
}

/**
 * The cluster's instances by tag, with `known` (fresher answers by id) in place of their listed versions and the
 * just-launched ids the tag listing does not show yet (eventual consistency) read by id.
 */
async function listWithLaunched(ctx: AwsContext, clusterId: string, known: Instance[], launched: string[]): Promise<Instance[]> {
  const listed = await listInstances(ctx, clusterFilter(clusterId));
  const byId = new Map(listed.map((i) => [i.InstanceId ?? '', i]));
  for (const i of known) byId.set(i.InstanceId ?? '', i);
  const missing = launched.filter((id) => !byId.has(id));
  if (missing.length > 0) for (const i of await describeByIds(ctx, missing)) byId.set(i.InstanceId ?? '', i);
  return [...byId.values()];
}
