// `skiff setup aws`: checks the credentials work in the region, checks permissions without creating
// anything (EC2 DryRun: "DryRunOperation" means allowed), then creates the shared network, the log group and
// the agents' IAM role and instance profile ahead of time so the first `skiff up` is quick and needs only the
// "ongoing" permissions. It also reports the account's EC2 vCPU quotas (those it could read) and what is in use.

import { parseAwsOptions } from '../plan/aws-options.js';
import { logGroupFor } from '../../broker/api/logs.js';
import { planNetwork } from '../plan/network-plan.js';
import { VCPU_QUOTAS } from '../plan/quotas.js';
import { chooseZone } from '../plan/zones.js';
import { awsErrorCode, iamActionOf, type AwsAction } from './aws-port.js';
import { tagSpec, type AwsContext } from './context.js';
import { ensureAgentBoundary } from './agent-role.js';
import { ensureLogGroup } from './log-group.js';
import { ensureNetwork, type NetworkIds } from './network-apply.js';
import { describeZones } from './preflight.js';
import { readVcpuQuotas, vcpuUsage } from './quotas.js';
import { baseTags } from '../plan/tags.js';

export type PermissionResult = 'allowed' | 'denied' | `error: ${string}`;

export interface SetupReport {
  region: string;
  zones: string[];
  warnings: string[];
  permissions: { action: string; result: PermissionResult }[];
  network: NetworkIds | 'bring-your-own';
  logGroup: string;
  /** The agents' instance profile (and role) name, or undefined when permissions were missing. */
  /** The ARN of the workspace's permissions boundary for its clusters' agent roles. */
  agentBoundary?: string;
  /** The AWSServiceRoleForEC2Spot service-linked role spot workers need: made now, there already, or not made (why in warnings). */
  spotRole: 'created' | 'exists' | 'not created';
  /** The EC2 vCPU quotas that could be read (the others are named in warnings), with the vCPUs in use in each. */
  quotas: { code: string; name: string; vcpus: number; usedVcpus: number }[];
}

async function dryRun(ctx: AwsContext, action: AwsAction, call: () => Promise<unknown>): Promise<{ action: string; result: PermissionResult }> {
  try {
    await call();
    return { action: iamActionOf(action), result: 'error: DryRun was not honoured' };
  } catch (err) {
    const code = awsErrorCode(err) ?? 'unknown';
    if (code === 'DryRunOperation') return { action: iamActionOf(action), result: 'allowed' };
    if (code === 'UnauthorizedOperation' || code === 'AccessDenied' || code === 'AccessDeniedException') return { action: iamActionOf(action), result: 'denied' };
    ctx.log.warn({ action, code }, 'permission check failed');
    return { action: iamActionOf(action), result: `error: ${code}` };
  }
}

/**
 * The AWSServiceRoleForEC2Spot service-linked role: an account's first spot request fails without it when the
 * requester may not create it (AuthFailure.ServiceLinkedRoleCreationNotPermitted; launch.ts), so setup, which has
 * iam:CreateServiceLinkedRole for spot.amazonaws.com (policies.ts), makes it once. An existing role answers InvalidInput
 * "Service role name AWSServiceRoleForEC2Spot has been taken in this account"
 * (https://docs.aws.amazon.com/batch/latest/userguide/spot-fleet-roles-cli.html), which is success.
 */
async function ensureSpotServiceLinkedRole(ctx: AwsContext, warnings: string[]): Promise<SetupReport['spotRole']> {
  const found = await ctx.port.getRole({ RoleName: 'AWSServiceRoleForEC2Spot' }).then(
    () => true,
    () => false, // NoSuchEntity, or may not read it: the create below says which
  );
  if (found) return 'exists';
  try {
    await ctx.port.createServiceLinkedRole({ AWSServiceName: 'spot.amazonaws.com' });
    ctx.progress('created the AWSServiceRoleForEC2Spot service-linked role (spot workers need it)');
    return 'created';
  } catch (err) {
    const code = awsErrorCode(err) ?? 'unknown';
    if ((code === 'InvalidInput' && /has been taken/.test(err instanceof Error ? err.message : '')) || code === 'EntityAlreadyExists') return 'exists';
    warnings.push(`the AWSServiceRoleForEC2Spot service-linked role could not be created (${code}); spot workers fail until it exists (spot_with_fallback runs them on-demand): run \`aws iam create-service-linked-role --aws-service-name spot.amazonaws.com\` with rights to do so`);
    return 'not created';
  }
}

export async function setupAws(ctx: AwsContext, rawOptions: Readonly<Record<string, unknown>> | undefined, opts: { createNetwork: boolean } = { createNetwork: true }): Promise<SetupReport> {
  const options = parseAwsOptions(rawOptions);
  const warnings: string[] = [];
  // Credentials: the first call fails clearly (PRV_CLOUD_ERROR naming the SDK's reason) if there are none.
  const zones = await describeZones(ctx, options.region);
  const natZone = chooseZone(options.region, options.zone, zones);

  const tags = baseTags(options.workspace, options.tags);
  const permissions = [
    await dryRun(ctx, 'describeVpcs', () => ctx.port.describeVpcs({ DryRun: true })),
    await dryRun(ctx, 'createInternetGateway', () => ctx.port.createInternetGateway({ DryRun: true, TagSpecifications: tagSpec('internet-gateway', tags) })),
    await dryRun(ctx, 'allocateAddress', () => ctx.port.allocateAddress({ DryRun: true, Domain: 'vpc' })),
    await dryRun(ctx, 'createLaunchTemplate', () =>
      ctx.port.createLaunchTemplate({ DryRun: true, LaunchTemplateName: 'skiff-permission-check', LaunchTemplateData: { InstanceInitiatedShutdownBehavior: 'terminate' } }),
    ),
    await dryRun(ctx, 'describeInstances', () => ctx.port.describeInstances({ DryRun: true })),
    await dryRun(ctx, 'describeImages', () => ctx.port.describeImages({ DryRun: true, Owners: ['amazon'] })),
  ];
  const denied = permissions.filter((p) => p.result === 'denied').map((p) => p.action);
  if (denied.length > 0) warnings.push(`missing permissions: ${denied.join(', ')}; attach the documents printed by skiff policy aws setup|ongoing`);

  const reading = await readVcpuQuotas(ctx, VCPU_QUOTAS.map((q) => q.code));
  for (const code of reading.defaults) {
    warnings.push(`vCPU quota ${code} (${VCPU_QUOTAS.find((q) => q.code === code)?.name ?? code}): the account's applied value could not be read; AWS's default ${reading.limits[code] ?? '?'} is shown and skiff up checks against it`);
  }
  for (const u of reading.unreadable) warnings.push(`vCPU quota ${u.code} (${u.name}) could not be read (${u.reason}); skiff up will not check it`);
  const readable = Object.keys(reading.limits);
  const usage = readable.length > 0 ? await vcpuUsage(ctx, readable, {}) : {};
  const quotas = VCPU_QUOTAS.filter((q) => q.code in reading.limits).map((q) => ({ code: q.code, name: q.name, vcpus: reading.limits[q.code] ?? 0, usedVcpus: usage[q.code] ?? 0 }));

  const network = planNetwork(options, zones, natZone);
  let ids: SetupReport['network'] = 'bring-your-own';
  if (network.kind === 'managed' && opts.createNetwork && denied.length === 0) ids = await ensureNetwork(ctx, network);
  const group = { name: logGroupFor(options.workspace), retentionDays: options.logRetentionDays, tags };
  if (denied.length === 0) await ensureLogGroup(ctx, group);
  const spotRole = await ensureSpotServiceLinkedRole(ctx, warnings);
  const report: SetupReport = { region: options.region, zones, warnings, permissions, network: ids, logGroup: group.name, quotas, spotRole };
  if (denied.length === 0) report.agentBoundary = await ensureAgentBoundary(ctx, options.workspace, tags);
  return report;
}
