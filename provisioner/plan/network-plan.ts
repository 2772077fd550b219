// The shared network of a workspace in a region, as data: what must exist, named by `skiff:key`.
//
//   VPC ── IGW
//    ├─ public subnet per zone ── rt-public  (0.0.0.0/0 → IGW)
//    │     └─ (default zone) NAT gateway + its elastic IP
//    └─ private subnet per zone ── rt-private (0.0.0.0/0 → NAT)
//
// A subnet for every zone the account has in the region (DescribeAvailabilityZones) is planned, so any zone can
// be chosen later and workers can spread over all of them; each zone's addresses are fixed by its letter
// (zones.ts), so a zone list that differs later never moves an existing subnet. Public subnets assign a public
// IPv4 address on launch (as AWS's default subnets do): that is how workers placed there by EC2 Fleet get one.
// With a bring-your-own network the plan only names the user's ids and skiff creates nothing.

import { SkiffError } from '../../broker/api/errors.js';
import type { AwsOptions, ByoNetwork } from './aws-options.js';
import { parseCidr } from './cidr.js';
import { zoneSlot, zoneSubnetBlocks } from './zones.js';
import { baseTags, networkTags, type Tags } from './tags.js';

export type Tier = 'public' | 'private';

export interface SubnetPlan {
  key: string;
  zone: string;
  tier: Tier;
  cidr: string;
  tags: Tags;
}

export interface NetworkResourcePlan {
  key: string;
  tags: Tags;
}

export interface ManagedNetworkPlan {
  kind: 'managed';
  workspace: string;
  region: string;
  vpc: NetworkResourcePlan & { cidr: string };
  internetGateway: NetworkResourcePlan;
  publicRouteTable: NetworkResourcePlan;
  privateRouteTable: NetworkResourcePlan;
  natAddress: NetworkResourcePlan;
  natGateway: NetworkResourcePlan & { zone: string };
  subnets: SubnetPlan[];
  /** Tags every shared-network resource carries (used to find them all). */
  baseTags: Tags;
}

export interface ByoNetworkPlan extends ByoNetwork {
  kind: 'byo';
  workspace: string;
  region: string;
}

export type NetworkPlan = ManagedNetworkPlan | ByoNetworkPlan;

export function subnetKey(tier: Tier, zone: string): string {
  return `subnet-${tier}-${zone}`;
}

/**
 * The shared network for `zones` (the account's usable zones of the region); the NAT gateway of a new network
 * goes in `natZone` (the first cluster's zone).
 */
export function planNetwork(opts: AwsOptions, zones: readonly string[], natZone: string): NetworkPlan {
  if (opts.network) return { kind: 'byo', workspace: opts.workspace, region: opts.region, ...opts.network };
  const base = baseTags(opts.workspace, opts.tags);
  const res = (key: string): NetworkResourcePlan => ({ key, tags: networkTags(base, opts.workspace, key) });
  const vpc = parseCidr(opts.vpcCidr);
  if (!vpc.ok) throw new SkiffError('PRV_INVALID_REQUEST', `vpc_cidr ${opts.vpcCidr} is not valid: ${vpc.reason}`);
  const subnets: SubnetPlan[] = [];
  for (const zone of zones) {
    const slot = zoneSlot(opts.region, zone);
    if (slot === undefined) continue;
    const split = zoneSubnetBlocks(vpc.cidr, slot);
    if (!split.ok) throw new SkiffError('PRV_INVALID_REQUEST', `vpc_cidr: ${split.reason}; use a larger block such as 10.0.0.0/16`);
    for (const tier of ['public', 'private'] as const) {
      const key = subnetKey(tier, zone);
      subnets.push({ key, zone, tier, cidr: split.blocks[tier], tags: { ...networkTags(base, opts.workspace, key), 'skiff:tier': tier } });
    }
  }
  return {
    kind: 'managed',
    workspace: opts.workspace,
    region: opts.region,
    vpc: { ...res('vpc'), cidr: opts.vpcCidr },
    internetGateway: res('igw'),
    publicRouteTable: res('rt-public'),
    privateRouteTable: res('rt-private'),
    natAddress: res('eip-nat'),
    natGateway: { ...res('nat'), zone: natZone },
    subnets,
    baseTags: base,
  };
}
