// The cluster's two security groups: scheduler (the firewall rules: 443 from the firewall CIDR, 22 from the
// client's /32 only) and cluster (all traffic from itself). Found by tag first, rules added only if missing.

import type { IpPermission, SecurityGroup } from '@aws-sdk/client-ec2';
import type { IngressRule, SecurityGroupPlan } from '../plan/cluster-plan.js';
import { ROLE_TAG } from '../plan/tags.js';
import { fromAwsTags, requireId, tagFilters, tagSpec, type AwsContext } from './context.js';

export interface GroupIds {
  scheduler: string;
  cluster: string;
}

function toPermission(rule: IngressRule, groupId: string): IpPermission {
  const p: IpPermission = { IpProtocol: rule.protocol };
  if (rule.protocol !== '-1') {
    p.FromPort = rule.fromPort;
    p.ToPort = rule.toPort;
  }
  if ('cidr' in rule.source) p.IpRanges = [{ CidrIp: rule.source.cidr, Description: rule.description }];
  else p.UserIdGroupPairs = [{ GroupId: groupId, Description: rule.description }];
  return p;
}

function hasRule(group: SecurityGroup | undefined, rule: IngressRule, groupId: string): boolean {
  return (group?.IpPermissions ?? []).some((p) => {
    if (p.IpProtocol !== rule.protocol) return false;
    if (rule.protocol !== '-1' && (p.FromPort !== rule.fromPort || p.ToPort !== rule.toPort)) return false;
    return 'cidr' in rule.source
      ? (p.IpRanges ?? []).some((r) => r.CidrIp === (rule.source as { cidr: string }).cidr)
      : (p.UserIdGroupPairs ?? []).some((g) => g.GroupId === groupId);
  });
}

export async function ensureSecurityGroups(
  ctx: AwsContext,
  vpcId: string,
  clusterFilterTags: Record<string, string>,
  groups: { scheduler: SecurityGroupPlan; cluster: SecurityGroupPlan },
): Promise<GroupIds> {
  const found = await ctx.port.describeSecurityGroups({ Filters: [...tagFilters(clusterFilterTags), { Name: 'vpc-id', Values: [vpcId] }] });
  const ids: Partial<GroupIds> = {};
  for (const role of ['scheduler', 'cluster'] as const) {
    const plan = groups[role];
    const existing = found.SecurityGroups?.find((g) => fromAwsTags(g.Tags)[ROLE_TAG] === plan.tags[ROLE_TAG]);
    let groupId = existing?.GroupId;
    if (!groupId) {
      const out = await ctx.port.createSecurityGroup({
        GroupName: plan.name,
        Description: plan.description,
        VpcId: vpcId,
        TagSpecifications: tagSpec('security-group', plan.tags),
      });
      groupId = requireId(out.GroupId, `security group ${plan.name}`);
    }
    const gid = groupId;
    const missing = plan.ingress.filter((r) => !hasRule(existing, r, gid));
    if (missing.length > 0) {
      await ctx.port.authorizeSecurityGroupIngress({ GroupId: gid, IpPermissions: missing.map((r) => toPermission(r, gid)) });
    }
    ids[role] = gid;
  }
  return { scheduler: ids.scheduler ?? '', cluster: ids.cluster ?? '' };
}
