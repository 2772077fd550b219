// Find-or-create the shared network of a workspace. Each resource is created with its tags in the same call
// (TagSpecifications), so a resource that exists is always findable: a rerun after a crash at any point
// finds what the last run made and creates only the rest. One Describe per resource type, whatever the
// number of zones.

import type { RouteTable } from '@aws-sdk/client-ec2';
import type { ManagedNetworkPlan, SubnetPlan } from '../plan/network-plan.js';
import { KEY_TAG } from '../plan/tags.js';
import { clientToken, fromAwsTags, requireId, tagFilters, tagSpec, waitUntil, type AwsContext } from './context.js';

export interface NetworkIds {
  vpcId: string;
  /** Subnet id by zone and tier. */
  subnets: Record<string, { public: string; private: string }>;
}

function keyOf(tags: Parameters<typeof fromAwsTags>[0]): string | undefined {
  return fromAwsTags(tags)[KEY_TAG];
}

export async function ensureNetwork(ctx: AwsContext, plan: ManagedNetworkPlan): Promise<NetworkIds> {
  const { port } = ctx;
  const filters = tagFilters(plan.baseTags);

  const vpcs = await port.describeVpcs({ Filters: filters });
  let vpcId = vpcs.Vpcs?.find((v) => keyOf(v.Tags) === plan.vpc.key)?.VpcId;
  let dnsHostnames = false;
  if (!vpcId) {
    const out = await port.createVpc({ CidrBlock: plan.vpc.cidr, TagSpecifications: tagSpec('vpc', plan.vpc.tags) });
    vpcId = requireId(out.Vpc?.VpcId, 'VPC');
    ctx.progress(`created VPC ${vpcId} (${plan.vpc.cidr})`);
  } else {
    const attr = await port.describeVpcAttribute({ VpcId: vpcId, Attribute: 'enableDnsHostnames' });
    dnsHostnames = attr.EnableDnsHostnames?.Value === true;
  }
  // Public DNS names for the scheduler's certificate. Read first, so a complete network needs only reads.
  if (!dnsHostnames) await port.modifyVpcAttribute({ VpcId: vpcId, EnableDnsHostnames: { Value: true } });

  const igws = await port.describeInternetGateways({ Filters: filters });
  const igw = igws.InternetGateways?.find((g) => keyOf(g.Tags) === plan.internetGateway.key);
  let igwId = igw?.InternetGatewayId;
  if (!igwId) {
    const out = await port.createInternetGateway({ TagSpecifications: tagSpec('internet-gateway', plan.internetGateway.tags) });
    igwId = requireId(out.InternetGateway?.InternetGatewayId, 'internet gateway');
  }
  if (!igw?.Attachments?.some((a) => a.VpcId === vpcId)) {
    await port.attachInternetGateway({ InternetGatewayId: igwId, VpcId: vpcId });
  }

  const found = await port.describeSubnets({ Filters: [...filters, { Name: 'vpc-id', Values: [vpcId] }] });
  const subnetIds = new Map<string, string>();
  const assignsPublicIp = new Set<string>();
  for (const s of found.Subnets ?? []) {
    const k = keyOf(s.Tags);
    if (k && s.SubnetId && !subnetIds.has(k)) {
      subnetIds.set(k, s.SubnetId);
      if (s.MapPublicIpOnLaunch === true) assignsPublicIp.add(k);
    }
  }
  for (const s of plan.subnets) {
    if (!subnetIds.has(s.key)) {
      const out = await port.createSubnet({ VpcId: vpcId, CidrBlock: s.cidr, AvailabilityZone: s.zone, TagSpecifications: tagSpec('subnet', s.tags) });
      subnetIds.set(s.key, requireId(out.Subnet?.SubnetId, `subnet ${s.key}`));
    }
    // Public subnets assign a public IPv4 address on launch: the only way an EC2 Fleet worker placed there gets
    // one while its security groups stay on the launch template (see launch.ts).
    if (s.tier === 'public' && !assignsPublicIp.has(s.key)) {
      await port.modifySubnetAttribute({ SubnetId: subnetIds.get(s.key) ?? '', MapPublicIpOnLaunch: { Value: true } });
    }
  }
  const idOf = (s: SubnetPlan): string => subnetIds.get(s.key) ?? '';

  const tables = (await port.describeRouteTables({ Filters: [...filters, { Name: 'vpc-id', Values: [vpcId] }] })).RouteTables ?? [];
  const tableOf = (key: string): RouteTable | undefined => tables.find((t) => keyOf(t.Tags) === key);

  const publicSubnets = plan.subnets.filter((s) => s.tier === 'public');
  const privateSubnets = plan.subnets.filter((s) => s.tier === 'private');
  await ensureRouteTable(ctx, vpcId, tableOf(plan.publicRouteTable.key), plan.publicRouteTable, { GatewayId: igwId }, publicSubnets.map(idOf));

  // The NAT gateway (and its address) sits in the public subnet of the first cluster's zone.
  const addrs = await port.describeAddresses({ Filters: filters });
  let allocationId = addrs.Addresses?.find((a) => keyOf(a.Tags) === plan.natAddress.key)?.AllocationId;
  if (!allocationId) {
    const out = await port.allocateAddress({ Domain: 'vpc', TagSpecifications: tagSpec('elastic-ip', plan.natAddress.tags) });
    allocationId = requireId(out.AllocationId, 'elastic IP');
  }
  const nats = await port.describeNatGateways({ Filter: [...filters, { Name: 'state', Values: ['pending', 'available'] }] });
  let nat = nats.NatGateways?.find((n) => keyOf(n.Tags) === plan.natGateway.key);
  if (!nat) {
    const natSubnet = publicSubnets.find((s) => s.zone === plan.natGateway.zone) ?? publicSubnets[0];
    const out = await port.createNatGateway({
      SubnetId: natSubnet ? idOf(natSubnet) : '',
      AllocationId: allocationId,
      ClientToken: clientToken(ctx, 'nat'),
      TagSpecifications: tagSpec('natgateway', plan.natGateway.tags),
    });
    nat = out.NatGateway;
    ctx.progress(`created NAT gateway ${nat?.NatGatewayId ?? '?'}`);
  }
  const natId = requireId(nat?.NatGatewayId, 'NAT gateway');
  if (nat?.State !== 'available') {
    await waitUntil(ctx, `NAT gateway ${natId} to become available`, async () => {
      const out = await port.describeNatGateways({ NatGatewayIds: [natId] });
      const state = out.NatGateways?.[0]?.State;
      return state === 'available' ? state : undefined;
    });
  }
  await ensureRouteTable(ctx, vpcId, tableOf(plan.privateRouteTable.key), plan.privateRouteTable, { NatGatewayId: natId }, privateSubnets.map(idOf));

  const subnets: NetworkIds['subnets'] = {};
  for (const s of publicSubnets) {
    const priv = privateSubnets.find((p) => p.zone === s.zone);
    subnets[s.zone] = { public: idOf(s), private: priv ? idOf(priv) : '' };
  }
  return { vpcId, subnets };
}

async function ensureRouteTable(
  ctx: AwsContext,
  vpcId: string,
  existing: RouteTable | undefined,
  plan: { key: string; tags: Record<string, string> },
  target: { GatewayId: string } | { NatGatewayId: string },
  subnetIds: string[],
): Promise<void> {
  const { port } = ctx;
  let table = existing;
  if (!table) {
    const out = await port.createRouteTable({ VpcId: vpcId, ClientToken: clientToken(ctx, plan.key), TagSpecifications: tagSpec('route-table', plan.tags) });
    table = out.RouteTable;
  }
  const tableId = requireId(table?.RouteTableId, `route table ${plan.key}`);
  if (!table?.Routes?.some((r) => r.DestinationCidrBlock === '0.0.0.0/0')) {
    await port.createRoute({ RouteTableId: tableId, DestinationCidrBlock: '0.0.0.0/0', ...target });
  }
  const associated = new Set((table?.Associations ?? []).map((a) => a.SubnetId));
  for (const subnetId of subnetIds) {
    if (!associated.has(subnetId)) await port.associateRouteTable({ RouteTableId: tableId, SubnetId: subnetId });
  }
}
