// Availability zones as the account sees them (from DescribeAvailabilityZones), and the fixed place of each
// zone's subnets in the VPC block. Pure.
//
// A subnet's address must never depend on which other zones exist: an account may gain a zone later, or a
// region may list different zones to different accounts, and an existing network must keep its subnets. So
// the VPC block is cut into 16 equal blocks once, and zone letter L (a=0, b=1, ... h=7) always owns
//
//   public  = block L        private = block 8 + L
//
//   10.0.0.0/16 → 16 × /20:  us-east-1a public 10.0.0.0/20, private 10.0.128.0/20; us-east-1c public 10.0.32.0/20
//
// (For six zones a..f this is exactly the layout skiff used before, so existing us-east-1 networks are unchanged.)
// A zone lettered beyond h gets no subnet; no region has one today.

import { SkiffError } from '../../broker/api/errors.js';
import { formatCidr, subBlock, MIN_SUBNET_PREFIX_LENGTH, type Cidr } from './cidr.js';
import { zoneLetterOf } from './regions.js';

/** Zone letters a..h. */
export const ZONE_SLOTS = 8;
const SLOT_BITS = 4; // 2 × ZONE_SLOTS blocks

export interface ZoneSubnets {
  public: string;
  private: string;
}

/** The slot (0-based letter index) of a zone of `region`, or undefined when it has none. */
export function zoneSlot(region: string, zone: string): number | undefined {
  const letter = zoneLetterOf(region, zone);
  if (letter === undefined) return undefined;
  const slot = letter.charCodeAt(0) - 'a'.charCodeAt(0);
  return slot < ZONE_SLOTS ? slot : undefined;
}

/** The public and private blocks of the zone in `slot`, or a reason when the VPC is too small to cut. */
export function zoneSubnetBlocks(vpc: Cidr, slot: number): { ok: true; blocks: ZoneSubnets } | { ok: false; reason: string } {
  const prefix = vpc.prefix + SLOT_BITS;
  if (prefix > MIN_SUBNET_PREFIX_LENGTH) {
    return { ok: false, reason: `${formatCidr(vpc)} is too small: each zone subnet would be /${prefix}, AWS needs /${MIN_SUBNET_PREFIX_LENGTH} or larger` };
  }
  if (!Number.isInteger(slot) || slot < 0 || slot >= ZONE_SLOTS) return { ok: false, reason: `zone slot ${slot} is outside 0..${ZONE_SLOTS - 1}` };
  return { ok: true, blocks: { public: formatCidr(subBlock(vpc, SLOT_BITS, slot)), private: formatCidr(subBlock(vpc, SLOT_BITS, ZONE_SLOTS + slot)) } };
}

export interface AvailabilityZoneInfo {
  ZoneName?: string | undefined;
  State?: string | undefined;
  ZoneType?: string | undefined;
}

/**
 * The usable zones of a DescribeAvailabilityZones answer, sorted: available, of type availability-zone (Local and
 * Wavelength Zones are left out: skiff's network is regional), and with a slot in the layout above.
 */
export function usableZones(region: string, answer: readonly AvailabilityZoneInfo[]): string[] {
  const zones = answer
    .filter((z) => (z.State ?? 'available') === 'available' && (z.ZoneType ?? 'availability-zone') === 'availability-zone')
    .map((z) => z.ZoneName ?? '')
    .filter((z) => zoneSlot(region, z) !== undefined);
  return [...new Set(zones)].sort();
}

/**
 * The zone a cluster's scheduler (and NAT gateway, for a new network) goes in: the user's, checked against what
 * the account has, else the first available one. Throws PRV_INVALID_REQUEST naming the valid zones.
 */
export function chooseZone(region: string, requested: string | undefined, available: readonly string[]): string {
  if (available.length === 0) {
    throw new SkiffError('PRV_INVALID_REQUEST', `region ${region} reports no available zone to this account; choose another region`);
  }
  if (requested === undefined) return available[0] ?? '';
  if (!available.includes(requested)) {
    throw new SkiffError('PRV_INVALID_REQUEST', `zone ${JSON.stringify(requested)} is not available in region ${region} for this account; valid zones: ${available.join(', ')}`);
  }
  return requested;
}
