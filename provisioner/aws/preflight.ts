// plan()'s read-only look at the account, before anything exists: the region's zones, the instance types,
// the image of each role, a bring-your-own network, the vCPU quotas and what is in use. Each answer becomes a
// fact for planAwsCluster (plan/cluster-plan.ts), which decides; checks that need only an answer already read
// run as soon as they can, so a bad zone costs one call and a bad type two.
//
//   DescribeAvailabilityZones → zone ok? → DescribeInstanceTypes → types, architectures, GPUs ok?
//   → DescribeImages (per architecture) → [BYO: DescribeVpcs, DescribeSubnets, DescribeSecurityGroups]
//   → GetServiceQuota (per quota drawn on) → [DescribeInstances (+ DescribeInstanceTypes) when one was read]

import { SkiffError } from '../../broker/api/errors.js';
import type { AwsOptions } from '../plan/aws-options.js';
import { vcpuRequestOf, type PlanFacts } from '../plan/cluster-plan.js';
import { defaultImageQuery, imageQueryKey, newestImage, rootDeviceOf, type ResolvedImage } from '../plan/images.js';
import { checkWorkerGpus, instanceTypeFacts, roleArchitecture, type Architecture, type InstanceTypeFacts } from '../plan/instance-types.js';
import type { ByoNetworkPlan } from '../plan/network-plan.js';
import { quotasDrawnOn } from '../plan/quotas.js';
import { chooseZone, usableZones } from '../plan/zones.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';
import { readVcpuQuotas, vcpuUsage } from './quotas.js';

function invalid(message: string): SkiffError {
  return new SkiffError('PRV_INVALID_REQUEST', message);
}

/**
 * What AWS answers a request in a region the account has not enabled: EC2 "AWS was not able to validate the provided
 * access credentials" (AuthFailure), other services "The security token included in the request is invalid".
 */
const REFUSED_CREDENTIALS = new Set(['AuthFailure', 'UnrecognizedClientException', 'InvalidClientTokenId', 'OptInRequired']);
/** A region enabled in every account (opt-in-not-required), to ask about another. */
const ALWAYS_ENABLED_REGION = 'us-east-1';

/**
 * Regions introduced after 20 March 2019 are disabled until the account enables them, and every request there is
 * refused as if the credentials were bad (https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html).
 * DescribeRegions in an always-enabled region says which it is: OptInStatus `not-opted-in`
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html, AllRegions). Undefined when it
 * is not that (or cannot be told): the caller reports the original error.
 */
async function regionNotEnabled(ctx: AwsContext, region: string, err: unknown): Promise<SkiffError | undefined> {
  const code = awsErrorCode(err) ?? '';
  if (!REFUSED_CREDENTIALS.has(code) || !ctx.portIn || region === ALWAYS_ENABLED_REGION) return undefined;
  let status: string | undefined;
  try {
    const out = await ctx.portIn(ALWAYS_ENABLED_REGION).describeRegions({ AllRegions: true, RegionNames: [region] });
    status = out.Regions?.find((r) => r.RegionName === region)?.OptInStatus;
  } catch {
    return undefined; // the credentials fail there too: the original error says so
  }
  if (status !== 'not-opted-in') return undefined;
  return new SkiffError(
    'PRV_INVALID_REQUEST',
    `region ${region} is an opt-in region that this AWS account has not enabled (AWS answers ${code} there); ` +
      `enable it (AWS console: Account → AWS Regions, or \`aws account enable-region --region-name ${region}\`), wait until it shows Enabled, then run this again, or choose another region`,
    { cause: err },
  );
}

/** The account's usable zones of the region (available, regional, in skiff's subnet layout), sorted. */
export async function describeZones(ctx: AwsContext, region: string): Promise<string[]> {
  let out;
  try {
    out = await ctx.port.describeAvailabilityZones({ Filters: [{ Name: 'state', Values: ['available'] }] });
  } catch (err) {
    throw (await regionNotEnabled(ctx, region, err)) ?? err;
  }
  return usableZones(region, out.AvailabilityZones ?? []);
}

export async function describeTypes(ctx: AwsContext, region: string, wanted: readonly string[]): Promise<Record<string, InstanceTypeFacts>> {
  let found;
  try {
    found = await ctx.port.describeInstanceTypes({ InstanceTypes: [...wanted] as never });
  } catch (err) {
    if (awsErrorCode(err) === 'InvalidInstanceType') {
      const detail = /\[([^\]]*)\]/.exec(err instanceof Error ? err.message : '')?.[1];
      throw invalid(`instance type(s) ${detail ?? `among ${wanted.join(', ')}`} are not offered in ${region}; check the names (e.g. m6i.large)`);
    }
    throw err;
  }
  return instanceTypeFacts(region, wanted, found.InstanceTypes ?? []);
}

function architectureOf(value: string | undefined): Architecture | undefined {
  return value === 'x86_64' || value === 'arm64' ? value : undefined;
}

/** The image of each role: the user's ami (which must exist), else the default of the role's architecture. */
export async function resolveImages(
  ctx: AwsContext,
  opts: AwsOptions,
  archs: { scheduler: Architecture; worker: Architecture },
): Promise<{ scheduler: ResolvedImage; worker: ResolvedImage }> {
  if (opts.ami !== undefined) {
    const id = opts.ami;
    const out = await ctx.port.describeImages({ ImageIds: [id] }).catch((err: unknown) => {
      if (awsErrorCode(err)?.startsWith('InvalidAMIID')) return { Images: [] };
      throw err;
    });
    const img = out.Images?.find((i) => i.ImageId === id);
    if (!img) throw invalid(`image ${id} does not exist in ${opts.region}; name an AMI of this region`);
    const architecture = architectureOf(img.Architecture);
    if (!architecture) throw invalid(`image ${id} is ${img.Architecture ?? 'of no architecture'}; skiff boots x86_64 or arm64 Linux images`);
    const resolved = { imageId: id, architecture, name: img.Name ?? id, ...rootDeviceOf(img) };
    return { scheduler: resolved, worker: resolved };
  }
  const cache = new Map<string, ResolvedImage>();
  const lookup = async (architecture: Architecture, gpu: boolean): Promise<ResolvedImage> => {
    const q = defaultImageQuery(architecture, gpu);
    const key = imageQueryKey(q);
    const hit = cache.get(key);
    if (hit) return hit;
    const out = await ctx.port.describeImages({
      Owners: q.owners,
      Filters: [
        { Name: 'name', Values: [q.namePattern] },
        { Name: 'architecture', Values: [q.architecture] },
        { Name: 'state', Values: ['available'] },
      ],
    });
    const newest = newestImage(out.Images ?? []);
    if (!newest?.ImageId) throw invalid(`no image found in ${opts.region} for ${q.description}; name one with the ami option (e.g. ami: ami-0123456789abcdef0)`);
    const resolved = { imageId: newest.ImageId, architecture, name: newest.Name ?? q.description, ...rootDeviceOf(newest) };
    cache.set(key, resolved);
    return resolved;
  };
  return { scheduler: await lookup(archs.scheduler, false), worker: await lookup(archs.worker, opts.workerGpu === 1) };
}

export interface ByoFacts {
  vpcId: string;
  schedulerSubnetId: string;
  workerSubnetId: string;
  /** The scheduler subnet's zone. */
  zone: string;
  workerSubnetAssignsPublicIp: boolean;
}

/** Checks the user's network exists and fits together: subnets and groups in the VPC. Creates nothing. */
export async function checkByoNetwork(ctx: AwsContext, net: ByoNetworkPlan): Promise<ByoFacts> {
  const notFound = (what: string, id: string) => invalid(`${what} ${id} does not exist in ${net.region}; check the id and the region`);
  const vpcs = await ctx.port.describeVpcs({ VpcIds: [net.networkId] }).catch((err: unknown) => {
    if (awsErrorCode(err)?.startsWith('InvalidVpcID')) throw notFound('network_id', net.networkId);
    throw err;
  });
  if (!vpcs.Vpcs?.length) throw notFound('network_id', net.networkId);
  const subnetIds = [...new Set([net.schedulerSubnetId, net.workerSubnetId])];
  const subnets = await ctx.port.describeSubnets({ SubnetIds: subnetIds }).catch((err: unknown) => {
    if (awsErrorCode(err)?.startsWith('InvalidSubnetID')) throw invalid(`subnet ${subnetIds.join(' or ')} does not exist in ${net.region}`);
    throw err;
  });
  for (const id of subnetIds) {
    const s = subnets.Subnets?.find((x) => x.SubnetId === id);
    if (!s) throw invalid(`subnet ${id} does not exist in ${net.region}`);
    if (s.VpcId !== net.networkId) throw invalid(`subnet ${id} is in ${s.VpcId ?? '?'}, not in network_id ${net.networkId}`);
  }
  const groupIds = [...new Set([net.schedulerFirewallId, net.firewallId])];
  const groups = await ctx.port.describeSecurityGroups({ GroupIds: groupIds }).catch((err: unknown) => {
    if (awsErrorCode(err)?.startsWith('InvalidGroup')) throw invalid(`security group ${groupIds.join(' or ')} does not exist in ${net.region}`);
    throw err;
  });
  for (const id of groupIds) {
    const g = groups.SecurityGroups?.find((x) => x.GroupId === id);
    if (!g) throw invalid(`security group ${id} does not exist in ${net.region}`);
    if (g.VpcId !== net.networkId) throw invalid(`security group ${id} is in ${g.VpcId ?? '?'}, not in network_id ${net.networkId}`);
  }
  const subnet = (id: string) => subnets.Subnets?.find((x) => x.SubnetId === id);
  return {
    vpcId: net.networkId,
    schedulerSubnetId: net.schedulerSubnetId,
    workerSubnetId: net.workerSubnetId,
    zone: subnet(net.schedulerSubnetId)?.AvailabilityZone ?? '',
    workerSubnetAssignsPublicIp: subnet(net.workerSubnetId)?.MapPublicIpOnLaunch === true,
  };
}

/** Everything planAwsCluster needs to know about the account for this request. Read-only. */
export async function gatherPlanFacts(ctx: AwsContext, opts: AwsOptions, workers: number, network: ByoNetworkPlan | undefined): Promise<PlanFacts> {
  const zones = await describeZones(ctx, opts.region);
  if (!network) chooseZone(opts.region, opts.zone, zones);
  const instanceTypes = await describeTypes(ctx, opts.region, [...new Set([...opts.schedulerVmTypes, ...opts.workerVmTypes])]);
  const archs = { scheduler: roleArchitecture('scheduler', opts.schedulerVmTypes, instanceTypes), worker: roleArchitecture('worker', opts.workerVmTypes, instanceTypes) };
  if (opts.workerGpu === 1) checkWorkerGpus(opts.workerVmTypes, instanceTypes);
  const images = await resolveImages(ctx, opts, archs);
  const facts: PlanFacts = { zones, instanceTypes, images, quotaLimits: {}, quotaUsage: {} };
  if (network) {
    const byo = await checkByoNetwork(ctx, network);
    facts.byo = { zone: byo.zone, workerSubnetAssignsPublicIp: byo.workerSubnetAssignsPublicIp };
  }
  const codes = quotasDrawnOn(vcpuRequestOf(opts, workers, instanceTypes));
  const reading = await readVcpuQuotas(ctx, codes);
  facts.quotaLimits = reading.limits;
  const readable = Object.keys(reading.limits);
  if (readable.length > 0) {
    const known = Object.fromEntries(Object.entries(instanceTypes).map(([t, f]) => [t, f.vcpus]));
    facts.quotaUsage = await vcpuUsage(ctx, readable, known);
  }
  return facts;
}
