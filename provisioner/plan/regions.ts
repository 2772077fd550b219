// The regions skiff supports and the availability zones of each. A static table keeps plan() pure; a zone
// AWS adds later is one line here. The first zone of each list is the region's default zone.

export const SUPPORTED_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ca-central-1',
  'ap-east-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-south-1',
  'eu-central-1',
  'eu-north-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'sa-east-1',
] as const;

export type Region = (typeof SUPPORTED_REGIONS)[number];

export const DEFAULT_REGION: Region = 'us-east-1';

const ZONE_SUFFIXES: Record<Region, readonly string[]> = {
  'us-east-1': ['a', 'b', 'c', 'd', 'e', 'f'],
  'us-east-2': ['a', 'b', 'c'],
  'us-west-1': ['a', 'b'],
  'us-west-2': ['a', 'b', 'c', 'd'],
  'ap-southeast-1': ['a', 'b', 'c'],
  'ap-southeast-2': ['a', 'b', 'c'],
  'ca-central-1': ['a', 'b', 'd'],
  'ap-east-1': ['a', 'b', 'c'],
  'ap-northeast-1': ['a', 'c', 'd'],
  'ap-northeast-2': ['a', 'b', 'c', 'd'],
  'ap-south-1': ['a', 'b', 'c'],
  'eu-central-1': ['a', 'b', 'c'],
  'eu-north-1': ['a', 'b', 'c'],
  'eu-west-1': ['a', 'b', 'c'],
  'eu-west-2': ['a', 'b', 'c'],
  'eu-west-3': ['a', 'b', 'c'],
  'sa-east-1': ['a', 'b', 'c'],
};

export function isSupportedRegion(value: string): value is Region {
  return (SUPPORTED_REGIONS as readonly string[]).includes(value);
}

/** Zones of a region in a stable order (the order fixes each zone's subnet addresses). */
export function zonesOf(region: Region): string[] {
  return ZONE_SUFFIXES[region].map((s) => `${region}${s}`);
}

export function defaultZoneOf(region: Region): string {
  return `${region}${ZONE_SUFFIXES[region][0] ?? 'a'}`;
}
