// The broker's machine in the workspace's public subnet: its security group (443 from --broker-cidr and from the
// VPC, nothing else), its Elastic IP (the address in the published URL, kept across replacements) and the
// instance itself. Each found by its tags first; a live broker instance is kept as it is.
import type { Instance, SecurityGroup } from '@aws-sdk/client-ec2';
import { SkiffError } from '../../broker/api/errors.js';
import { BROKER_PORT, brokerTags } from '../plan/broker-plan.js';
import { ROLE_TAG, KEY_TAG, type Tags } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import { clientToken, fromAwsTags, requireId, tagFilters, tagSpec, waitUntil, type AwsContext } from './context.js';
import { listInstances } from './instances.js';
import type { Outcome } from './broker-outcome.js';

/** Live states in which the broker instance is kept (a stopped one is the user's to start or terminate). */
const KEPT_STATES = ['pending', 'running', 'stopping', 'stopped'];

const brokerFilters = (base: Tags, part: Parameters<typeof brokerTags>[2]) => tagFilters({ ...base, [ROLE_TAG]: 'broker', [KEY_TAG]: `broker-${part}` });

function opens(g: SecurityGroup | undefined, cidr: string): boolean {
  return (g?.IpPermissions ?? []).some((p) => p.IpProtocol === 'tcp' && p.FromPort === BROKER_PORT && p.ToPort === BROKER_PORT && (p.IpRanges ?? []).some((r) => r.CidrIp === cidr));
}

export async function ensureBrokerGroup(ctx: AwsContext, o: { workspace: string; base: Tags; vpcId: string; name: string; cidr: string }): Promise<{ groupId: string; outcome: Outcome }> {
  const vpc = (await ctx.port.describeVpcs({ VpcIds: [o.vpcId] })).Vpcs?.[0];
  const vpcCidr = vpc?.CidrBlock;
  if (!vpcCidr) throw new SkiffError('PRV_CLOUD_ERROR', `VPC ${o.vpcId} has no IPv4 block`);
  const found = (await ctx.port.describeSecurityGroups({ Filters: [...brokerFilters(o.base, 'security-group'), { Name: 'vpc-id', Values: [o.vpcId] }] })).SecurityGroups?.[0];
  let outcome: Outcome = 'exists';
  let groupId = found?.GroupId;
  if (!groupId) {
    const out = await ctx.port.createSecurityGroup({
      GroupName: o.name, VpcId: o.vpcId, Description: `skiff broker of workspace ${o.workspace}: HTTPS from its users and its VPC`,
      TagSpecifications: tagSpec('security-group', brokerTags(o.base, o.workspace, 'security-group')),
    });
    groupId = requireId(out.GroupId, `security group ${o.name}`);
    outcome = 'created';
  }
  const rules = [
    { cidr: o.cidr, description: 'skiff CLI and browsers (--broker-cidr)' },
    { cidr: vpcCidr, description: 'cluster machines in the workspace VPC' },
  ].filter((r, i, all) => all.findIndex((x) => x.cidr === r.cidr) === i && !opens(found, r.cidr));
  if (rules.length > 0) {
    await ctx.port.authorizeSecurityGroupIngress({
      GroupId: groupId,
      IpPermissions: rules.map((r) => ({ IpProtocol: 'tcp', FromPort: BROKER_PORT, ToPort: BROKER_PORT, IpRanges: [{ CidrIp: r.cidr, Description: r.description }] })),
    });
    if (outcome === 'exists') outcome = 'updated';
  }
  return { groupId, outcome };
}

export async function ensureBrokerAddress(ctx: AwsContext, o: { workspace: string; base: Tags }): Promise<{ allocationId: string; publicIp: string; associatedWith?: string; outcome: Outcome }> {
  const found = (await ctx.port.describeAddresses({ Filters: brokerFilters(o.base, 'address') })).Addresses?.[0];
  if (found?.AllocationId && found.PublicIp) {
    return { allocationId: found.AllocationId, publicIp: found.PublicIp, ...(found.InstanceId ? { associatedWith: found.InstanceId } : {}), outcome: 'exists' };
  }
  const out = await ctx.port.allocateAddress({ Domain: 'vpc', TagSpecifications: tagSpec('elastic-ip', brokerTags(o.base, o.workspace, 'address')) });
  const allocationId = requireId(out.AllocationId, 'Elastic IP');
  ctx.progress(`allocated Elastic IP ${out.PublicIp ?? ''} for the broker`);
  return { allocationId, publicIp: out.PublicIp ?? '', outcome: 'created' };
}

export async function findBrokerInstance(ctx: AwsContext, base: Tags): Promise<Instance | undefined> {
  const live = await listInstances(ctx, [...brokerFilters(base, 'instance'), { Name: 'instance-state-name', Values: KEPT_STATES }]);
  return live.sort((a, b) => (b.LaunchTime?.getTime() ?? 0) - (a.LaunchTime?.getTime() ?? 0))[0];
}

export interface BrokerLaunch {
  workspace: string;
  base: Tags;
  imageId: string;
  vmType: string;
  subnetId: string;
  groupId: string;
  profile: string;
  userData: string;
}

// IAM is eventually consistent: EC2 may not see a profile made seconds ago (as launch.ts retries for clusters).
const PROFILE_PROPAGATION_MS = 120_000;
const profileNotVisible = (err: unknown): boolean =>
  awsErrorCode(err) === 'InvalidParameterValue' && err instanceof Error && /iamInstanceProfile|instance profile/i.test(err.message);

export async function launchBrokerInstance(ctx: AwsContext, l: BrokerLaunch): Promise<string> {
  const tags = brokerTags(l.base, l.workspace, 'instance');
  const deadline = ctx.now() + Math.min(PROFILE_PROPAGATION_MS, ctx.waitTimeoutMs);
  for (let attempt = 0; ; attempt++) {
    try {
      const out = await ctx.port.runInstances({
        ImageId: l.imageId, InstanceType: l.vmType as never, MinCount: 1, MaxCount: 1,
        UserData: Buffer.from(l.userData, 'utf8').toString('base64'),
        // A broker that powers itself off stays for a look (and `skiff setup aws` launches another if it is terminated).
        InstanceInitiatedShutdownBehavior: 'stop',
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
        NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: l.subnetId, Groups: [l.groupId], AssociatePublicIpAddress: true, DeleteOnTermination: true }],
        IamInstanceProfile: { Name: l.profile },
        TagSpecifications: [...tagSpec('instance', tags), ...tagSpec('volume', brokerTags(l.base, l.workspace, 'volume'))],
        ClientToken: clientToken(ctx, `broker-instance-${attempt}`),
      });
      const id = requireId(out.Instances?.[0]?.InstanceId, 'broker instance');
      ctx.progress(`launched broker instance ${id} (${l.vmType})`);
      return id;
    } catch (err) {
      if (!profileNotVisible(err) || ctx.now() >= deadline) throw err;
      await ctx.sleep(ctx.pollIntervalMs);
    }
  }
}

/** Waits for the instance to run, then gives it the Elastic IP (unless it has it already). */
export async function attachAddress(ctx: AwsContext, instanceId: string, address: { allocationId: string; associatedWith?: string }): Promise<Outcome> {
  if (address.associatedWith === instanceId) return 'exists';
  await waitUntil(ctx, `broker instance ${instanceId} to run`, async () => {
    const [i] = await listInstances(ctx, [{ Name: 'instance-id', Values: [instanceId] }]).catch((err: unknown) => {
      if (awsErrorCode(err)?.startsWith('InvalidInstanceID')) return [];
      throw err;
    });
    const state = i?.State?.Name;
    if (state === 'terminated' || state === 'shutting-down') throw new SkiffError('PRV_LAUNCH_FAILED', `broker instance ${instanceId} is ${state}; run skiff setup aws again to launch another`);
    return state === 'running' ? true : undefined;
  });
  await ctx.port.associateAddress({ AllocationId: address.allocationId, InstanceId: instanceId, AllowReassociation: true });
  return 'updated';
}

export function brokerInstanceTags(i: Instance): Tags {
  return fromAwsTags(i.Tags);
}
