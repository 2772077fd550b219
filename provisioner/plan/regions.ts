// The regions skiff supports, and what a zone name of a region looks like. Which zones a region really has
// differs per account (us-west-1 offers a and b to some accounts, b and c to others), so the list comes from
// DescribeAvailabilityZones at plan time (see zones.ts), never from a table here.

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

export function isSupportedRegion(value: string): value is Region {
  return (SUPPORTED_REGIONS as readonly string[]).includes(value);
}

/** The zone's letter when `zone` is a zone name of `region` (region + one letter, e.g. us-west-1c), else undefined. */
export function zoneLetterOf(region: string, zone: string): string | undefined {
  if (!zone.startsWith(region) || zone.length !== region.length + 1) return undefined;
  const letter = zone.slice(-1);
  return /^[a-z]$/.test(letter) ? letter : undefined;
}
