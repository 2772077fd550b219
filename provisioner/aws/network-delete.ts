// `skiff network delete`: removes the workspace's shared network in dependency order, then the agents' IAM
// role and instance profile (workspace-level like the network; IAM is global, so this also takes them from
// the workspace's clusters in other regions: the next `skiff up` there recreates them). Refuses while a live
// instance is still in the network or, for the role, anywhere in the workspace in this region. Leftover skiff
// security groups in the VPC go too. Idempotent.

import { SkiffError } from '../../broker/api/errors.js';
import { baseTags, KEY_TAG, OWNER_TAG, OWNER_VALUE, ROLE_TAG, WORKSPACE_TAG } from '../plan/tags.js';
import { fromAwsTags, tagFilters, waitUntil, type AwsContext } from './context.js';
import { deleteAgentRole } from './agent-role.js';
import { LIVE_STATES, listInstances } from './instances.js';
import { deleteRetryingDependencies } from './teardown.js';

const isGone = (code: string): boolean => /NotFound|InvalidAllocationID|InvalidAssociationID/.test(code);

/**
 * One delete of the network: gone already is success, and DependencyViolation (a deleted NAT's or a terminated
 * instance's interfaces still in the subnet, the gateway's addresses still mapped) is retried with the bounded
 * backoff the cluster teardown uses (teardown.ts).
 */
async function ignoreNotFound(ctx: AwsContext, del: () => Promise<unknown>): Promise<void> {
  await deleteRetryingDependencies(ctx, del, isGone);
}

export async function deleteNetwork(ctx: AwsContext, workspace: string): Promise<{ deleted: string[] }> {
  const { port } = ctx;
  const owner = { [OWNER_TAG]: OWNER_VALUE, [WORKSPACE_TAG]: workspace };
  const filters = tagFilters(owner);
  const deleted: string[] = [];
  const vpcs = (await port.describeVpcs({ Filters: filters })).Vpcs ?? [];
  const vpcIds = vpcs.map((v) => v.VpcId ?? '').filter(Boolean);
  // Live instances in the network (whoever launched them), or skiff's anywhere in the workspace (a
  // bring-your-own network's clusters run on the agents' role too).
  const live = await listInstances(ctx, [...filters, { Name: 'instance-state-name', Values: LIVE_STATES }]);
  if (vpcIds.length > 0) {
    const known = new Set(live.map((i) => i.InstanceId));
    for (const i of await listInstances(ctx, [{ Name: 'vpc-id', Values: vpcIds }, { Name: 'instance-state-name', Values: LIVE_STATES }])) if (!known.has(i.InstanceId)) live.push(i);
  }
  const broker = live.find((i) => fromAwsTags(i.Tags)[ROLE_TAG] === 'broker');
  if (broker) {
    throw new SkiffError('PRV_INVALID_REQUEST', `the broker of workspace ${workspace} (instance ${broker.InstanceId ?? '?'}) runs in its network; skiff teardown aws removes the broker, then the network`);
  }
  if (live.length > 0) {
    const clusters = [...new Set(live.map((i) => fromAwsTags(i.Tags)['skiff:cluster'] ?? i.InstanceId ?? '?'))];
    throw new SkiffError('PRV_INVALID_REQUEST', `workspace ${workspace} still has ${live.length} live instance(s) (${clusters.join(', ')}) using its network or its agents' role; run skiff down (or skiff gc --yes) first`);
  }
  const nats = (await port.describeNatGateways({ Filter: [...filters, { Name: 'state', Values: ['pending', 'available', 'deleting'] }] })).NatGateways ?? [];
  for (const n of nats) {
    if (n.NatGatewayId && n.State !== 'deleting') await ignoreNotFound(ctx, () => port.deleteNatGateway({ NatGatewayId: n.NatGatewayId }));
    deleted.push(n.NatGatewayId ?? '');
  }
  const natIds = nats.map((n) => n.NatGatewayId ?? '').filter(Boolean);
  if (natIds.length > 0) {
    await waitUntil(ctx, 'the NAT gateway to be deleted', async () => {
      const out = await port.describeNatGateways({ NatGatewayIds: natIds });
      return (out.NatGateways ?? []).every((n) => n.State === 'deleted') ? true : undefined;
    });
  }
  for (const a of (await port.describeAddresses({ Filters: filters })).Addresses ?? []) {
    if (a.AllocationId) await ignoreNotFound(ctx, () => port.releaseAddress({ AllocationId: a.AllocationId }));
    deleted.push(a.AllocationId ?? '');
  }
  for (const vpcId of vpcIds) {
    const groups = (await port.describeSecurityGroups({ Filters: [...tagFilters(baseTags(workspace, {})), { Name: 'vpc-id', Values: [vpcId] }] })).SecurityGroups ?? [];
    for (const g of groups) {
      if (g.GroupId && g.GroupName !== 'default') await ignoreNotFound(ctx, () => port.deleteSecurityGroup({ GroupId: g.GroupId }));
      deleted.push(g.GroupId ?? '');
    }
  }
  for (const t of (await port.describeRouteTables({ Filters: filters })).RouteTables ?? []) {
    for (const a of t.Associations ?? []) {
      if (a.RouteTableAssociationId && !a.Main) await ignoreNotFound(ctx, () => port.disassociateRouteTable({ AssociationId: a.RouteTableAssociationId }));
    }
    if (t.RouteTableId) await ignoreNotFound(ctx, () => port.deleteRouteTable({ RouteTableId: t.RouteTableId }));
    deleted.push(t.RouteTableId ?? '');
  }
  for (const g of (await port.describeInternetGateways({ Filters: filters })).InternetGateways ?? []) {
    for (const a of g.Attachments ?? []) {
      if (g.InternetGatewayId && a.VpcId) await ignoreNotFound(ctx, () => port.detachInternetGateway({ InternetGatewayId: g.InternetGatewayId, VpcId: a.VpcId }));
    }
    if (g.InternetGatewayId) await ignoreNotFound(ctx, () => port.deleteInternetGateway({ InternetGatewayId: g.InternetGatewayId }));
    deleted.push(g.InternetGatewayId ?? '');
  }
  for (const s of (await port.describeSubnets({ Filters: filters })).Subnets ?? []) {
    if (s.SubnetId) await ignoreNotFound(ctx, () => port.deleteSubnet({ SubnetId: s.SubnetId }));
    deleted.push(s.SubnetId ?? '');
  }
  for (const v of vpcs) {
    if (v.VpcId && fromAwsTags(v.Tags)[KEY_TAG] !== undefined) await ignoreNotFound(ctx, () => port.deleteVpc({ VpcId: v.VpcId }));
    deleted.push(v.VpcId ?? '');
  }
  if (deleted.length > 0) ctx.progress(`deleted ${deleted.length} network resource(s) of workspace ${workspace}`);
  const iam = await deleteAgentRole(ctx, workspace);
  if (iam.length > 0) ctx.progress(`deleted the agents' ${iam.join(' and ')}`);
  deleted.push(...iam);
  return { deleted: deleted.filter(Boolean) };
}
