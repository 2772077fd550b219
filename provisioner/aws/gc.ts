// `skiff gc`: every skiff-tagged cluster resource (instance, launch template, security group, the cluster's agent
// role and instance profile) whose cluster is not live. Lists by default; removes with confirm. The shared network belongs to the workspace, not to a
// cluster, and is left to `skiff network delete`.

import { CLUSTER_TAG, OWNER_TAG, OWNER_VALUE, WORKSPACE_TAG } from '../plan/tags.js';
import { fromAwsTags, tagFilters, type AwsContext } from './context.js';
import { LIVE_STATES, listInstances, terminateAndWait } from './instances.js';
import { deleteAgentRoleNamed, listClusterAgentRoles } from './agent-role.js';
import { deleteLaunchTemplatesAndGroups } from './teardown.js';

export type GcKind = 'instance' | 'launch-template' | 'security-group' | 'agent-role';

export interface GcItem {
  kind: GcKind;
  id: string;
  clusterId: string;
}

export interface GcOptions {
  /** Limit to one workspace; all skiff resources of the region otherwise. */
  workspace?: string;
  /** Clusters the broker still considers alive (pending, starting, running, stopping). */
  liveClusterIds: readonly string[];
  confirm: boolean;
}

export async function collectGarbage(ctx: AwsContext, opts: GcOptions): Promise<GcItem[]> {
  const live = new Set(opts.liveClusterIds);
  const owner: Record<string, string> = { [OWNER_TAG]: OWNER_VALUE };
  if (opts.workspace !== undefined) owner[WORKSPACE_TAG] = opts.workspace;
  const filters = tagFilters(owner);
  const dead = (tags: Parameters<typeof fromAwsTags>[0]): string | undefined => {
    const c = fromAwsTags(tags)[CLUSTER_TAG];
    return c !== undefined && !live.has(c) ? c : undefined;
  };
  const items: GcItem[] = [];
  const instances = await listInstances(ctx, [...filters, { Name: 'instance-state-name', Values: LIVE_STATES }]);
  for (const i of instances) {
    const c = dead(i.Tags);
    if (c !== undefined && i.InstanceId) items.push({ kind: 'instance', id: i.InstanceId, clusterId: c });
  }
  const lts = await ctx.port.describeLaunchTemplates({ Filters: filters });
  for (const lt of lts.LaunchTemplates ?? []) {
    const c = dead(lt.Tags);
    if (c !== undefined && lt.LaunchTemplateId) items.push({ kind: 'launch-template', id: lt.LaunchTemplateId, clusterId: c });
  }
  const sgs = await ctx.port.describeSecurityGroups({ Filters: filters });
  for (const g of sgs.SecurityGroups ?? []) {
    const c = dead(g.Tags);
    if (c !== undefined && g.GroupId) items.push({ kind: 'security-group', id: g.GroupId, clusterId: c });
  }
  // IAM is global: a role's cluster may be of another region, which the broker's live list covers too.
  for (const r of await listClusterAgentRoles(ctx, opts.workspace)) {
    if (!live.has(r.clusterId)) items.push({ kind: 'agent-role', id: r.name, clusterId: r.clusterId });
  }
  if (!opts.confirm || items.length === 0) return items;
  const instanceIds = items.filter((i) => i.kind === 'instance').map((i) => i.id);
  await terminateAndWait(ctx, instanceIds, [...filters, { Name: 'instance-id', Values: instanceIds }]);
  await deleteLaunchTemplatesAndGroups(ctx, filters, (c) => !live.has(c));
  for (const r of items.filter((i) => i.kind === 'agent-role')) await deleteAgentRoleNamed(ctx, r.id);
  ctx.progress(`removed ${items.length} resource(s) of ${new Set(items.map((i) => i.clusterId)).size} dead cluster(s)`);
  return items;
}
