// Everything skiff-tagged in a region, by kind: what `skiff gc` and `network delete` reason about, and what
// tests compare before and after a run. Read-only.

import { OWNER_TAG, OWNER_VALUE } from '../plan/tags.js';
import { fromAwsTags, tagFilters, type AwsContext } from './context.js';
import { LIVE_STATES, listInstances } from './instances.js';

export type InventoryKind =
  | 'vpc'
  | 'subnet'
  | 'internet-gateway'
  | 'route-table'
  | 'elastic-ip'
  | 'nat-gateway'
  | 'security-group'
  | 'launch-template'
  | 'instance';

export interface InventoryItem {
  kind: InventoryKind;
  id: string;
  tags: Record<string, string>;
}

export async function listSkiffResources(ctx: AwsContext): Promise<InventoryItem[]> {
  const { port } = ctx;
  const filters = tagFilters({ [OWNER_TAG]: OWNER_VALUE });
  const items: InventoryItem[] = [];
  const add = (kind: InventoryKind, id: string | undefined, tags: Parameters<typeof fromAwsTags>[0]) => {
    if (id) items.push({ kind, id, tags: fromAwsTags(tags) });
  };
  for (const v of (await port.describeVpcs({ Filters: filters })).Vpcs ?? []) add('vpc', v.VpcId, v.Tags);
  for (const s of (await port.describeSubnets({ Filters: filters })).Subnets ?? []) add('subnet', s.SubnetId, s.Tags);
  for (const g of (await port.describeInternetGateways({ Filters: filters })).InternetGateways ?? []) add('internet-gateway', g.InternetGatewayId, g.Tags);
  for (const t of (await port.describeRouteTables({ Filters: filters })).RouteTables ?? []) add('route-table', t.RouteTableId, t.Tags);
  for (const a of (await port.describeAddresses({ Filters: filters })).Addresses ?? []) add('elastic-ip', a.AllocationId, a.Tags);
  const nats = await port.describeNatGateways({ Filter: [...filters, { Name: 'state', Values: ['pending', 'available'] }] });
  for (const n of nats.NatGateways ?? []) add('nat-gateway', n.NatGatewayId, n.Tags);
  for (const g of (await port.describeSecurityGroups({ Filters: filters })).SecurityGroups ?? []) add('security-group', g.GroupId, g.Tags);
  for (const t of (await port.describeLaunchTemplates({ Filters: filters })).LaunchTemplates ?? []) add('launch-template', t.LaunchTemplateId, t.Tags);
  for (const i of await listInstances(ctx, [...filters, { Name: 'instance-state-name', Values: LIVE_STATES }])) add('instance', i.InstanceId, i.Tags);
  return items;
}

export function countByKind(items: InventoryItem[]): Partial<Record<InventoryKind, number>> {
  const out: Partial<Record<InventoryKind, number>> = {};
  for (const i of items) out[i.kind] = (out[i.kind] ?? 0) + 1;
  return out;
}
