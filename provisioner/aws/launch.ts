// Launching a cluster's machines: its launch template (worker user-data, shutdown → terminate), the scheduler
// with RunInstances in the public subnet with a public IP, and all workers with ONE instant CreateFleet per
// capacity type tried (the instance types are the fleet's prioritized overrides, so EC2 itself moves to the
// next type on InsufficientInstanceCapacity). spot_with_fallback asks on-demand for what spot could not give.

import type { CreateFleetError, FleetLaunchTemplateOverridesRequest } from '@aws-sdk/client-ec2';
import { SkiffError } from '../../broker/api/errors.js';
import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { awsErrorCode } from './aws-port.js';
import { clientToken, fromAwsTags, requireId, tagFilters, tagSpec, toAwsTags, type AwsContext } from './context.js';

const CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'Unsupported',
  'InstanceLimitExceeded',
  'MaxSpotInstanceCountExceeded',
  'SpotMaxPriceTooLow',
  'UnfulfillableCapacity',
]);

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
      NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: plan.workers.publicIp, Groups: [input.clusterGroupId], DeleteOnTermination: true }],
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
  launchTemplateId: string;
  subnetId: string;
  groupIds: string[];
  userData: string;
}

// IAM is eventually consistent: EC2 may not see an instance profile created seconds ago and answers
// InvalidParameterValue naming iamInstanceProfile. Retried for this long (at pollIntervalMs), then reported.
const PROFILE_PROPAGATION_MS = 120_000;
const isProfileNotYetVisible = (err: unknown): boolean =>
  awsErrorCode(err) === 'InvalidParameterValue' && err instanceof Error && /iamInstanceProfile|instance profile/i.test(err.message);

/** Launches the scheduler, trying each scheduler type in order on a capacity error. Returns its id. */
export async function launchScheduler(ctx: AwsContext, plan: AwsClusterPlan, input: SchedulerInput): Promise<string> {
  const tried: string[] = [];
  const profileDeadline = ctx.now() + Math.min(PROFILE_PROPAGATION_MS, ctx.waitTimeoutMs);
  let profileRetries = 0;
  for (let i = 0; i < plan.scheduler.vmTypes.length; i++) {
    const type = plan.scheduler.vmTypes[i] ?? '';
    try {
      const out = await ctx.port.runInstances({
        LaunchTemplate: { LaunchTemplateId: input.launchTemplateId, Version: '$Latest' },
        InstanceType: type as never,
        MinCount: 1,
        MaxCount: 1,
        UserData: Buffer.from(input.userData, 'utf8').toString('base64'),
        InstanceInitiatedShutdownBehavior: 'terminate',
        NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: input.subnetId, AssociatePublicIpAddress: true, Groups: input.groupIds, DeleteOnTermination: true }],
        TagSpecifications: tagSpec('instance', plan.scheduler.tags),
        // A fresh token per retry: EC2 may remember the token of the refused request with its error.
        ClientToken: clientToken(ctx, profileRetries === 0 ? `scheduler-${type}` : `scheduler-${type}-${profileRetries}`),
      });
      const id = requireId(out.Instances?.[0]?.InstanceId, 'scheduler instance');
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
      const code = awsErrorCode(err) ?? 'error';
      if (!CAPACITY_ERRORS.has(code)) throw err;
      tried.push(`${type}: ${code}`);
    }
  }
  throw new SkiffError('PRV_LAUNCH_FAILED', `no scheduler could be launched in ${plan.zone}; tried ${tried.join('; ')}. Add instance types to scheduler_vm_types or choose another zone`);
}

export interface WorkersInput {
  launchTemplateId: string;
  subnetId: string;
  count: number;
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

/** Launches `count` workers; throws PRV_LAUNCH_FAILED naming every type and capacity tried if any is missing. */
export async function launchWorkers(ctx: AwsContext, plan: AwsClusterPlan, input: WorkersInput): Promise<string[]> {
  const ids: string[] = [];
  const tried: string[] = [];
  let remaining = input.count;
  const overrides: FleetLaunchTemplateOverridesRequest[] = plan.workers.vmTypes.map((t, i) => ({ InstanceType: t as never, SubnetId: input.subnetId, Priority: i }));
  for (const capacity of capacityAttempts(plan.workers.spotPolicy)) {
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
        ClientToken: clientToken(ctx, `fleet-${capacity}-${remaining}`),
      });
      const launched = (out.Instances ?? []).flatMap((i) => i.InstanceIds ?? []);
      ids.push(...launched);
      remaining -= launched.length;
      errors = out.Errors ?? [];
    } catch (err) {
      const code = awsErrorCode(err) ?? 'error';
      if (!CAPACITY_ERRORS.has(code)) throw err;
      errors = [{ ErrorCode: code }];
    }
    const reasons = errors.map((e) => `${e.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? 'any type'}: ${e.ErrorCode ?? 'error'}`);
    tried.push(`${capacity} [${plan.workers.vmTypes.join(', ')}]${reasons.length ? ` (${[...new Set(reasons)].join('; ')})` : ''}`);
  }
  if (remaining > 0) {
    throw new SkiffError(
      'PRV_LAUNCH_FAILED',
      `only ${input.count - remaining} of ${input.count} workers could be launched in ${plan.zone}; tried ${tried.join(', then ')}. ` +
        'Add instance types to worker_vm_types, use spot_policy spot_with_fallback, or choose another zone',
    );
  }
  ctx.progress(`launched ${ids.length} worker(s)`);
  return ids;
}

export function roleOf(tags: Parameters<typeof fromAwsTags>[0]): string | undefined {
  return fromAwsTags(tags)['skiff:role'];
}
