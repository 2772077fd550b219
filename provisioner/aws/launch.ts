// Launching a cluster's machines.
//
// Launch template (workers only): image, worker user-data, shutdown → terminate, IMDSv2, instance profile, and
// the cluster security group as top-level SecurityGroupIds, with NO NetworkInterfaces block. EC2 Fleet's
// overrides then choose the subnet (one per zone): with a SubnetId override EC2 Fleet has been reported to drop
// a template's network interface, and the groups with it (aws/karpenter-provider-aws#3819), so the groups must
// not live there. Top-level groups apply whatever subnet an override picks. A worker gets a public IPv4 address
// from its subnet's auto-assign setting (skiff's public subnets have it on; see network-apply.ts).
//
//   launch template  { ImageId, UserData, SecurityGroupIds: [cluster], IamInstanceProfile, ... }
//   CreateFleet      overrides = worker types × worker subnets (priority = the type's place in the list)
//
// The scheduler is one RunInstances without the template (its image may be of another architecture): its
// interface names the public subnet, a public IP and both groups, which RunInstances honours.
//
// Workers: ONE instant CreateFleet per capacity type tried (spot_with_fallback asks on-demand for what spot did
// not give). EC2 moves to the next type or zone on a capacity error by itself. What is still missing after
// that is a shortfall: fine down to min_workers (reported as progress), a failure below it.

import type { CreateFleetError, FleetLaunchTemplateOverridesRequest } from '@aws-sdk/client-ec2';
import { SkiffError } from '../../broker/api/errors.js';
import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { rootBlockDevice } from '../plan/disks.js';
import { awsErrorCode } from './aws-port.js';
import { clientToken, fromAwsTags, requireId, tagFilters, tagSpec, toAwsTags, type AwsContext } from './context.js';

const CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'InsufficientFreeAddressesInSubnet',
  'Unsupported',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'MaxSpotInstanceCountExceeded',
  'MaxSpotFleetRequestCountExceeded',
  'SpotMaxPriceTooLow',
  'UnfulfillableCapacity',
]);

/**
 * The first spot request of an account makes EC2 create the AWSServiceRoleForEC2Spot service-linked role; credentials
 * that may not (iam:CreateServiceLinkedRole) get AuthFailure.ServiceLinkedRoleCreationNotPermitted, "The provided
 * credentials do not have permission to create the service-linked role for EC2 Spot Instances"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-fleet-prerequisites.html#service-linked-roles-spot-instances:
 * "if you use the AWS CLI or an API, you must ensure that these roles exist"). `skiff setup
 * aws` creates the role (setup.ts); until then spot gives nothing, and spot_with_fallback goes on to on-demand.
 */
export const SPOT_ROLE_REFUSED = 'AuthFailure.ServiceLinkedRoleCreationNotPermitted';

/** EC2 could not give this capacity now (or the account's limit is reached): try elsewhere, or fall short. */
export function isCapacityError(code: string | undefined): boolean {
  return code !== undefined && CAPACITY_ERRORS.has(code);
}

export interface LaunchTemplateInput {
  imageId: string;
  workerUserData: string;
  clusterGroupId: string;
  /** The instance profile the machines run as (the user's instance_profile, else the workspace's agent profile). */
  instanceProfile?: string;
}

export async function ensureLaunchTemplate(ctx: AwsContext, plan: AwsClusterPlan, input: LaunchTemplateInput): Promise<string> {
  const found = await ctx.port.describeLaunchTemplates({ Filters: tagFilters(plan.clusterTags) });
  const existing = found.LaunchTemplates?.find((t) => t.LaunchTemplateName === plan.launchTemplate.name);
  if (existing?.LaunchTemplateId) return existing.LaunchTemplateId;
  const out = await ctx.port.createLaunchTemplate({
    LaunchTemplateName: plan.launchTemplate.name,
    ClientToken: clientToken(ctx, 'launch-template'),
    LaunchTemplateData: {
      ImageId: input.imageId,
      UserData: Buffer.from(input.workerUserData, 'utf8').toString('base64'),
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      SecurityGroupIds: [input.clusterGroupId],
      ...(plan.workers.disk ? { BlockDeviceMappings: [rootBlockDevice(plan.workers.disk)] } : {}),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: toAwsTags(plan.workers.tags) },
        { ResourceType: 'volume', Tags: toAwsTags(plan.workers.tags) },
      ],
      ...(input.instanceProfile ? { IamInstanceProfile: { Name: input.instanceProfile } } : {}),
    },
    TagSpecifications: tagSpec('launch-template', plan.launchTemplate.tags),
  });
  return requireId(out.LaunchTemplate?.LaunchTemplateId, 'launch template');
}

export interface SchedulerInput {
  imageId: string;
  subnetId: string;
  groupIds: string[];
  userData: string;
  instanceProfile?: string;
}

// IAM is eventually consistent: EC2 may not see an instance profile created seconds ago and answers
// InvalidParameterValue naming iamInstanceProfile. Retried for this long (at pollIntervalMs), then reported.
const PROFILE_PROPAGATION_MS = 120_000;
const PROFILE_MESSAGE = /iamInstanceProfile|instance profile/i;
const isProfileNotYetVisible = (err: unknown): boolean => awsErrorCode(err) === 'InvalidParameterValue' && err instanceof Error && PROFILE_MESSAGE.test(err.message);
/** An instant fleet reports a launch's errors in its Errors set, where the same refusal appears per override. */
const isProfileFleetError = (e: CreateFleetError): boolean => e.ErrorCode === 'InvalidParameterValue' && PROFILE_MESSAGE.test(e.ErrorMessage ?? '');

/** Launches the scheduler, trying each scheduler type in order on a capacity error. Returns its id. */
export async function launchScheduler(ctx: AwsContext, plan: AwsClusterPlan, input: SchedulerInput): Promise<string> {
  const tried: string[] = [];
  const profileDeadline = ctx.now() + Math.min(PROFILE_PROPAGATION_MS, ctx.waitTimeoutMs);
  let profileRetries = 0;
  for (let i = 0; i < plan.scheduler.vmTypes.length; i++) {
    const type = plan.scheduler.vmTypes[i] ?? '';
    try {
      const out = await ctx.port.runInstances({
        ImageId: input.imageId,
        InstanceType: type as never,
        MinCount: 1,
        MaxCount: 1,
        UserData: Buffer.from(input.userData, 'utf8').toString('base64'),
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: input.subnetId, AssociatePublicIpAddress: true, Groups: input.groupIds, DeleteOnTermination: true }],
        ...(plan.scheduler.disk ? { BlockDeviceMappings: [rootBlockDevice(plan.scheduler.disk)] } : {}),
        TagSpecifications: [...tagSpec('instance', plan.scheduler.tags), ...tagSpec('volume', plan.scheduler.tags)],
        ...(input.instanceProfile ? { IamInstanceProfile: { Name: input.instanceProfile } } : {}),
        // A fresh token per retry: EC2 may remember the token of the refused request with its error.
        ClientToken: clientToken(ctx, profileRetries === 0 ? `scheduler-${type}` : `scheduler-${type}-${profileRetries}`),
      });
      const id = requireId(out.Instances?.[0]?.InstanceId, 'scheduler instance');
      await ctx.launched([id], 'scheduler');
      ctx.progress(`launched scheduler ${id} (${type})`);
      return id;
    } catch (err) {
      if (isProfileNotYetVisible(err) && ctx.now() < profileDeadline) {
        ctx.log.info({ clusterId: plan.clusterId }, 'instance profile not visible to EC2 yet; retrying');
        await ctx.sleep(ctx.pollIntervalMs);
        profileRetries++;
        i--;
        continue;
      }
      const code = awsErrorCode(err);
      if (!isCapacityError(code)) throw err;
      tried.push(`${type}: ${code ?? 'error'}`);
    }
  }
  throw new SkiffError('PRV_LAUNCH_FAILED', `no scheduler could be launched in ${plan.zone}; tried ${tried.join('; ')}. Add instance types to scheduler_vm_types or choose another zone`);
}

export interface WorkersInput {
  launchTemplateId: string;
  /** One subnet per zone the fleet may use. */
  subnetIds: string[];
  count: number;
  /** Fewer than this launched fails the launch (PRV_LAUNCH_FAILED). */
  minCount: number;
}

export interface WorkersLaunched {
  ids: string[];
  /** What is missing and why, e.g. 'launched 2 of 3 workers; m6i.xlarge: InsufficientInstanceCapacity'; absent when all launched. */
  shortfall?: string;
}

function capacityAttempts(policy: AwsClusterPlan['workers']['spotPolicy']): ('spot' | 'on-demand')[] {
  switch (policy) {
    case 'spot':
      return ['spot'];
    case 'spot_with_fallback':
      return ['spot', 'on-demand'];
    case 'on-demand':
      return ['on-demand'];
  }
}

/** The fleet's overrides: every worker type in every subnet, the type's place in the list as its priority. */
export function fleetOverrides(vmTypes: readonly string[], subnetIds: readonly string[]): FleetLaunchTemplateOverridesRequest[] {
  return vmTypes.flatMap((t, i) => subnetIds.map((SubnetId) => ({ InstanceType: t as never, SubnetId, Priority: i })));
}

/** Launches up to `count` workers; at least `minCount` or PRV_LAUNCH_FAILED naming every type and capacity tried. */
export async function launchWorkers(ctx: AwsContext, plan: AwsClusterPlan, input: WorkersInput): Promise<WorkersLaunched> {
  const ids: string[] = [];
  const attempts: { capacity: string; reasons: string[]; launched: number }[] = [];
  let remaining = input.count;
  const overrides = fleetOverrides(plan.workers.vmTypes, input.subnetIds);
  // The workers' profile may be as new as the scheduler's (the same IAM eventual consistency): a fleet refused for
  // it (as a whole, or with nothing launched and only that error in its Errors set) is asked again with a fresh
  // token, as RunInstances is, until PROFILE_PROPAGATION_MS.
  const profileDeadline = ctx.now() + Math.min(PROFILE_PROPAGATION_MS, ctx.waitTimeoutMs);
  let profileRetries = 0;
  const profileWait = async (): Promise<boolean> => {
    if (ctx.now() >= profileDeadline) return false;
    ctx.log.info({ clusterId: plan.clusterId }, 'instance profile not visible to EC2 Fleet yet; retrying');
    await ctx.sleep(ctx.pollIntervalMs);
    profileRetries++;
    return true;
  };
  const capacities = capacityAttempts(plan.workers.spotPolicy);
  for (let c = 0; c < capacities.length; c++) {
    const capacity = capacities[c] ?? 'on-demand';
    if (remaining <= 0) break;
    let errors: CreateFleetError[];
    try {
      const out = await ctx.port.createFleet({
        Type: 'instant',
        LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: input.launchTemplateId, Version: '$Latest' }, Overrides: overrides }],
        TargetCapacitySpecification: { TotalTargetCapacity: remaining, DefaultTargetCapacityType: capacity },
        SpotOptions: { AllocationStrategy: 'capacity-optimized-prioritized' },
        OnDemandOptions: { AllocationStrategy: 'prioritized' },
        TagSpecifications: [...tagSpec('instance', plan.workers.tags), ...tagSpec('fleet', plan.workers.tags)],
        ClientToken: clientToken(ctx, profileRetries === 0 ? `fleet-${capacity}-${remaining}` : `fleet-${capacity}-${remaining}-${profileRetries}`),
      });
      const launched = (out.Instances ?? []).flatMap((i) => i.InstanceIds ?? []);
      await ctx.launched(launched, 'worker');
      ids.push(...launched);
      remaining -= launched.length;
      errors = out.Errors ?? [];
      if (launched.length === 0 && errors.length > 0 && errors.every(isProfileFleetError) && (await profileWait())) {
        c--; // the same capacity again
        continue;
      }
    } catch (err) {
      if (isProfileNotYetVisible(err) && (await profileWait())) {
        c--; // the same capacity again
        continue;
      }
      const code = awsErrorCode(err);
      if (code === SPOT_ROLE_REFUSED && capacity === 'spot') {
        if (capacities.length === 1) {
          throw new SkiffError(
            'PRV_LAUNCH_FAILED',
            `spot workers need the account's AWSServiceRoleForEC2Spot service-linked role, and these credentials may not create it (${code}); ` +
              'run skiff setup aws once (it creates the role), or use spot_policy spot_with_fallback or on-demand',
            { cause: err },
          );
        }
      } else if (!isCapacityError(code)) throw err;
      errors = [{ ErrorCode: code }];
    }
    const reasons = [...new Set(errors.map((e) => `${e.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? 'any type'}: ${e.ErrorCode ?? 'error'}`))];
    attempts.push({ capacity, reasons, launched: input.count - remaining - attempts.reduce((n, a) => n + a.launched, 0) });
  }
  // spot_with_fallback that ended (partly) on-demand: billed at on-demand prices, so the user is told, with EC2's
  // reasons for spot, wherever the cluster's state is shown (not only in the log).
  const onDemand = attempts.find((a) => a.capacity === 'on-demand' && a.launched > 0);
  const spot = attempts.find((a) => a.capacity === 'spot');
  if (plan.workers.spotPolicy === 'spot_with_fallback' && onDemand && spot) {
    const why = spot.reasons.length > 0 ? spot.reasons.join('; ') : 'EC2 gave no reason';
    const spotRole = spot.reasons.some((r) => r.endsWith(SPOT_ROLE_REFUSED)) ? ' (run skiff setup aws to create the AWSServiceRoleForEC2Spot role)' : '';
    ctx.notice(`spot_with_fallback: ${onDemand.launched} of ${input.count} workers run on-demand, at on-demand prices; spot gave ${spot.launched} (${why})${spotRole}`);
  }
  if (remaining <= 0) {
    ctx.progress(`launched ${ids.length} worker(s)`);
    return { ids };
  }
  const launched = input.count - remaining;
  const where = input.subnetIds.length > 1 ? `${input.subnetIds.length} zones` : plan.workers.zones[0] ?? plan.zone;
  if (launched < input.minCount) {
    const tried = attempts.map((a) => `${a.capacity} [${plan.workers.vmTypes.join(', ')}]${a.reasons.length ? ` (${a.reasons.join('; ')})` : ''}`);
    const min = input.minCount < input.count ? ` (min_workers ${input.minCount})` : '';
    throw new SkiffError(
      'PRV_LAUNCH_FAILED',
      `only ${launched} of ${input.count} workers could be launched in ${where}${min}; tried ${tried.join(', then ')}. ` +
        'Add instance types to worker_vm_types, use spot_policy spot_with_fallback, choose another zone, or lower min_workers',
    );
  }
  const why = attempts.filter((a) => a.reasons.length > 0);
  const reasons =
    why.length === 0 ? 'EC2 gave no reason' : why.length === 1 && attempts.length === 1 ? (why[0]?.reasons ?? []).join('; ') : why.map((a) => `${a.capacity}: ${a.reasons.join('; ')}`).join(', then ');
  const shortfall = `launched ${launched} of ${input.count} workers; ${reasons}`;
  ctx.progress(shortfall);
  ctx.log.warn({ clusterId: plan.clusterId, launched, requested: input.count }, 'worker shortfall');
  return { ids, shortfall };
}

export function roleOf(tags: Parameters<typeof fromAwsTags>[0]): string | undefined {
  return fromAwsTags(tags)['skiff:role'];
}
