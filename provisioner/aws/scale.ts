// Scaling a running aws cluster. Growing: the cluster's launch template gets a new version carrying fresh
// worker user-data (the enrol token of the first launch may have expired), then ONE instant Fleet request per
// capacity type tried, with the cluster's own types, zones and spot policy (launchWorkers, as at `up`).
// Shrinking: exactly the instances named are terminated (the broker has retired their Dask workers first).
//
// The calls of a step do not depend on its size: the template lookup, its latest version read and a new one, the network's reads, one
// CreateFleet (two with spot_with_fallback), one DescribeInstances for the result.

import { SkiffError } from '../../broker/api/errors.js';
import type { Machine } from '../backend.js';
import type { AwsClusterPlan } from '../plan/cluster-plan.js';
import { rootBlockDevice } from '../plan/disks.js';
import { awsErrorCode } from './aws-port.js';
import { place } from './cluster-apply.js';
import { clientToken, tagFilters, type AwsContext } from './context.js';
import { describeByIds, toMachines } from './instances.js';
import { launchWorkers } from './launch.js';

export async function growWorkers(ctx: AwsContext, plan: AwsClusterPlan, count: number, workerUserData: string): Promise<Machine[]> {
  const found = await ctx.port.describeLaunchTemplates({ Filters: tagFilters(plan.clusterTags) });
  const templateId = found.LaunchTemplates?.find((t) => t.LaunchTemplateName === plan.launchTemplate.name)?.LaunchTemplateId;
  if (!templateId) throw new SkiffError('PRV_LAUNCH_FAILED', `the launch template ${plan.launchTemplate.name} of cluster ${plan.clusterId} is gone; \`skiff down\` and \`skiff up\` the cluster again`);
  // The new version carries the whole template, not only the user-data: an emulator may not copy SourceVersion's.
  const read = (await ctx.port.describeLaunchTemplateVersions({ LaunchTemplateId: templateId, Versions: ['$Latest'] })).LaunchTemplateVersions?.[0];
  const latest = read?.LaunchTemplateData;
  if (!latest?.ImageId || read?.VersionNumber === undefined) throw new SkiffError('PRV_LAUNCH_FAILED', `the launch template ${plan.launchTemplate.name} of cluster ${plan.clusterId} has no image; \`skiff down\` and \`skiff up\` the cluster again`);
  const profile = latest.IamInstanceProfile?.Name ?? latest.IamInstanceProfile?.Arn;
  await ctx.port.createLaunchTemplateVersion({
    LaunchTemplateId: templateId,
    // The number of the version just read, not '$Latest': AWS documents SourceVersion as "the version of the launch
    // template on which to base the new version" and the $Latest/$Default aliases for the launch requests
    // (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html), and a version
    // made meanwhile by another step must not become the base of this one.
    SourceVersion: String(read.VersionNumber),
    ClientToken: clientToken(ctx, 'scale-template'),
    LaunchTemplateData: {
      ImageId: latest.ImageId,
      UserData: Buffer.from(workerUserData, 'utf8').toString('base64'),
      InstanceInitiatedShutdownBehavior: latest.InstanceInitiatedShutdownBehavior ?? 'terminate',
      MetadataOptions: { HttpTokens: latest.MetadataOptions?.HttpTokens ?? 'required', HttpEndpoint: latest.MetadataOptions?.HttpEndpoint ?? 'enabled' },
      ...(latest.SecurityGroupIds ? { SecurityGroupIds: latest.SecurityGroupIds } : {}),
      // The root volume as planned (gp3, size, deleted on termination), else what the template had.
      ...(plan.workers.disk ? { BlockDeviceMappings: [rootBlockDevice(plan.workers.disk)] } : {}),
      ...(latest.TagSpecifications ? { TagSpecifications: latest.TagSpecifications.map((t) => ({ ...(t.ResourceType ? { ResourceType: t.ResourceType } : {}), ...(t.Tags ? { Tags: t.Tags } : {}) })) } : {}),
      ...(profile ? { IamInstanceProfile: latest.IamInstanceProfile?.Name ? { Name: latest.IamInstanceProfile.Name } : { Arn: profile } } : {}),
    },
  });
  const placement = await place(ctx, plan);
  // minCount 0: a short step is no failure; the broker asks again at its next pass.
  const out = await launchWorkers(ctx, plan, { launchTemplateId: templateId, subnetIds: placement.workerSubnetIds, count, minCount: 0 });
  return out.ids.length === 0 ? [] : toMachines(await describeByIds(ctx, out.ids), plan.instanceTypes).map((m) => ({ ...m, state: 'starting' as const }));
}

export async function terminateWorkers(ctx: AwsContext, ids: readonly string[]): Promise<void> {
  const valid = ids.filter((id) => /^i-[0-9a-f]+$/.test(id));
  for (let i = 0; i < valid.length; i += 1000) {
    try {
      await ctx.port.terminateInstances({ InstanceIds: valid.slice(i, i + 1000) });
    } catch (err) {
      if (!awsErrorCode(err)?.startsWith('InvalidInstanceID')) throw err; // gone already: what was asked
    }
  }
  if (valid.length > 0) ctx.progress(`terminating ${valid.length} worker instance(s)`);
}
