// Read-only checks before anything is created: the instance types exist (and have exactly one GPU when a
// GPU is asked for), the image is found, and a bring-your-own network fits together.

import { SkiffError } from '../../broker/api/errors.js';
import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import type { ByoNetworkPlan } from '../plan/network-plan.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';

function invalid(message: string): SkiffError {
  return new SkiffError('PRV_INVALID_REQUEST', message);
}

export async function checkInstanceTypes(ctx: AwsContext, plan: AwsClusterPlan): Promise<void> {
  const wanted = [...new Set([...plan.scheduler.vmTypes, ...plan.workers.vmTypes])];
  let found;
  try {
    found = await ctx.port.describeInstanceTypes({ InstanceTypes: wanted as never });
  } catch (err) {
    if (awsErrorCode(err) === 'InvalidInstanceType') {
      throw invalid(`unknown instance type among ${wanted.join(', ')} in ${plan.region}: ${err instanceof Error ? err.message : String(err)}`);
    }
    throw err;
  }
  const known = new Map((found.InstanceTypes ?? []).map((t) => [t.InstanceType as string, t]));
  const unknown = wanted.filter((t) => !known.has(t));
  if (unknown.length > 0) throw invalid(`instance type(s) ${unknown.join(', ')} are not offered in ${plan.region}; check the names (e.g. m6i.large)`);
  if (plan.workers.gpu === 1) {
    for (const t of plan.workers.vmTypes) {
      const gpus = (known.get(t)?.GpuInfo?.Gpus ?? []).reduce((n, g) => n + (g.Count ?? 0), 0);
      if (gpus !== 1) {
        throw invalid(`worker_gpu is 1 but ${t} has ${gpus} GPUs; a worker gets exactly one GPU: choose types such as g4dn.xlarge or g5.xlarge`);
      }
    }
  }
}

export async function resolveImage(ctx: AwsContext, plan: AwsClusterPlan): Promise<string> {
  const img = plan.image;
  if (img.kind === 'named') {
    const out = await ctx.port.describeImages({ ImageIds: [img.imageId] }).catch((err: unknown) => {
      if (awsErrorCode(err)?.startsWith('InvalidAMIID')) return { Images: [] };
      throw err;
    });
    if (!out.Images?.some((i) => i.ImageId === img.imageId)) throw invalid(`image ${img.imageId} does not exist in ${plan.region}; name an AMI of this region`);
    return img.imageId;
  }
  const out = await ctx.port.describeImages({
    Owners: img.owners,
    Filters: [
      { Name: 'name', Values: [img.namePattern] },
      { Name: 'architecture', Values: [img.architecture] },
      { Name: 'state', Values: ['available'] },
    ],
  });
  const newest = [...(out.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '') || (b.Name ?? '').localeCompare(a.Name ?? ''))[0];
  if (!newest?.ImageId) {
    throw new SkiffError('PRV_LAUNCH_FAILED', `no image found in ${plan.region} for ${img.description}; name one with the ami option (e.g. ami: ami-0123456789abcdef0)`);
  }
  return newest.ImageId;
}

export interface ByoIds {
  vpcId: string;
  schedulerSubnetId: string;
  workerSubnetId: string;
  zone: string;
}

/** Checks the user's network exists and fits together: subnets and groups in the VPC. Creates nothing. */
export async function checkByoNetwork(ctx: AwsContext, net: ByoNetworkPlan): Promise<ByoIds> {
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
  const zone = subnets.Subnets?.find((x) => x.SubnetId === net.schedulerSubnetId)?.AvailabilityZone ?? '';
  return { vpcId: net.networkId, schedulerSubnetId: net.schedulerSubnetId, workerSubnetId: net.workerSubnetId, zone };
}
