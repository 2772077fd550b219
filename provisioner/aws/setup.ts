// `skiff setup aws`: checks the credentials work in the region, checks permissions without creating
// anything (EC2 DryRun: "DryRunOperation" means allowed), then creates the shared network, the log group and
// the agents' IAM role and instance profile ahead of time so the first `skiff up` is quick and needs only the
// "ongoing" permissions.

import { parseAwsOptions } from '../plan/aws-options.js';
import { logGroupName } from '../plan/cluster-plan.js';
import { planNetwork } from '../plan/network-plan.js';
import { zonesOf } from '../plan/regions.js';
import { awsErrorCode, iamActionOf, type AwsAction } from './aws-port.js';
import { tagSpec, type AwsContext } from './context.js';
import { ensureAgentRole } from './agent-role.js';
import { ensureLogGroup } from './log-group.js';
import { ensureNetwork, type NetworkIds } from './network-apply.js';
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
  agentProfile?: string;
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

export async function setupAws(ctx: AwsContext, rawOptions: Readonly<Record<string, unknown>> | undefined, opts: { createNetwork: boolean } = { createNetwork: true }): Promise<SetupReport> {
  const options = parseAwsOptions(rawOptions);
  const warnings: string[] = [];
  // Credentials: the first call fails clearly (PRV_CLOUD_ERROR naming the SDK's reason) if there are none.
  const azs = await ctx.port.describeAvailabilityZones({ Filters: [{ Name: 'state', Values: ['available'] }] });
  const zones = (azs.AvailabilityZones ?? []).map((z) => z.ZoneName ?? '').filter(Boolean).sort();
  const known = zonesOf(options.region);
  const extra = zones.filter((z) => !known.includes(z));
  if (extra.length > 0) warnings.push(`zones ${extra.join(', ')} are not in skiff's table for ${options.region}; they cannot be chosen yet`);

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

  const network = planNetwork(options);
  let ids: SetupReport['network'] = 'bring-your-own';
  if (network.kind === 'managed' && opts.createNetwork && denied.length === 0) ids = await ensureNetwork(ctx, network);
  const group = { name: logGroupName(options.workspace), retentionDays: options.logRetentionDays, tags };
  if (denied.length === 0) await ensureLogGroup(ctx, group);
  const report: SetupReport = { region: options.region, zones, warnings, permissions, network: ids, logGroup: group.name };
  if (denied.length === 0) report.agentProfile = await ensureAgentRole(ctx, options.workspace, tags);
  return report;
}
