// What the simulator needs from moto's DescribeInstances and DescribeSecurityGroups, as plain records. Pure.
//
// Security groups belong to network interfaces, not to instances (EC2 User Guide, "Security groups for your
// VPC"): the groups enforced are those moto records on the primary interface (device index 0). moto leaves
// the instance-level `SecurityGroups` empty when groups come with a NetworkInterfaces entry, and puts a Fleet
// instance whose override sets SubnetId in the VPC's default group: what it records is what is enforced.

import type { Instance, IpPermission, Reservation, SecurityGroup } from '@aws-sdk/client-ec2';

export interface SimInstance {
  instanceId: string;
  state: string;
  tags: Record<string, string>;
  privateIp?: string;
  publicIp?: string;
  privateDnsName?: string;
  publicDnsName?: string;
  mac?: string;
  eniId?: string;
  subnetId?: string;
  vpcId?: string;
  groups: Array<{ id: string; name: string }>;
  imageId: string;
  instanceType: string;
  architecture: string;
  availabilityZone: string;
  launchTime: Date;
  accountId: string;
  reservationId: string;
  amiLaunchIndex: number;
  lifecycle: 'spot' | 'on-demand';
  profileArn?: string;
  profileId?: string;
}

export function toSimInstances(reservations: readonly Reservation[] | undefined): SimInstance[] {
  const out: SimInstance[] = [];
  for (const r of reservations ?? []) {
    for (const i of r.Instances ?? []) {
      const inst = toSimInstance(i, r.OwnerId ?? '123456789012', r.ReservationId ?? '');
      if (inst) out.push(inst);
    }
  }
  return out;
}

function toSimInstance(i: Instance, accountId: string, reservationId: string): SimInstance | undefined {
  if (!i.InstanceId) return undefined;
  const eni = (i.NetworkInterfaces ?? []).find((n) => (n.Attachment?.DeviceIndex ?? 0) === 0);
  const groupsSource = eni ? (eni.Groups ?? []) : (i.SecurityGroups ?? []);
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
  const inst: SimInstance = {
    instanceId: i.InstanceId,
    state: i.State?.Name ?? 'unknown',
    tags,
    groups: groupsSource.flatMap((g) => (g.GroupId ? [{ id: g.GroupId, name: g.GroupName ?? '' }] : [])),
    imageId: i.ImageId ?? '',
    instanceType: i.InstanceType ?? '',
    architecture: i.Architecture ?? 'x86_64',
    availabilityZone: i.Placement?.AvailabilityZone ?? '',
    launchTime: i.LaunchTime ?? new Date(),
    accountId,
    reservationId,
    amiLaunchIndex: i.AmiLaunchIndex ?? 0,
    lifecycle: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
  };
  const set = <K extends keyof SimInstance>(k: K, v: SimInstance[K] | undefined) => {
    if (v !== undefined && v !== '') inst[k] = v;
  };
  set('privateIp', eni?.PrivateIpAddress ?? i.PrivateIpAddress);
  set('publicIp', eni?.Association?.PublicIp ?? i.PublicIpAddress ?? undefined);
  set('privateDnsName', i.PrivateDnsName);
  set('publicDnsName', i.PublicDnsName);
  set('mac', eni?.MacAddress);
  set('eniId', eni?.NetworkInterfaceId);
  set('subnetId', eni?.SubnetId ?? i.SubnetId);
  set('vpcId', eni?.VpcId ?? i.VpcId);
  set('profileArn', i.IamInstanceProfile?.Arn);
  set('profileId', i.IamInstanceProfile?.Id);
  return inst;
}

/** One ingress permission, normalised. */
export interface IngressRule {
  /** 'all', 'tcp', 'udp', 'icmp', or an IP protocol number as a string. */
  protocol: string;
  /** Inclusive port range (for ICMP: the type); undefined = every port (every type). */
  fromPort?: number;
  /** End of the port range (for ICMP: the code; undefined = every code). */
  toPort?: number;
  cidrs: string[];
  sourceGroupIds: string[];
}

const PROTOCOL_NAMES: Record<string, string> = { '-1': 'all', all: 'all', '6': 'tcp', tcp: 'tcp', '17': 'udp', udp: 'udp', '1': 'icmp', icmp: 'icmp' };

function toRule(p: IpPermission): IngressRule {
  const raw = (p.IpProtocol ?? '-1').toLowerCase();
  const protocol = PROTOCOL_NAMES[raw] ?? raw;
  const rule: IngressRule = {
    protocol,
    cidrs: (p.IpRanges ?? []).flatMap((r) => (r.CidrIp ? [r.CidrIp] : [])),
    sourceGroupIds: (p.UserIdGroupPairs ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
  };
  // EC2 API Reference, IpPermission: for TCP/UDP FromPort..ToPort is the port range; for ICMP FromPort is the
  // type and ToPort the code, -1 meaning "all" for either. A missing port (protocol -1) means every port.
  const from = p.FromPort;
  const to = p.ToPort;
  if (protocol === 'all' || from === undefined || from === -1) return rule;
  rule.fromPort = from;
  if (protocol === 'icmp') {
    if (to !== undefined && to !== -1) rule.toPort = to;
  } else {
    rule.toPort = to === undefined || to === -1 ? from : to;
  }
  return rule;
}

export function toIngressByGroup(groups: readonly SecurityGroup[] | undefined): Map<string, IngressRule[]> {
  const out = new Map<string, IngressRule[]>();
  for (const g of groups ?? []) if (g.GroupId) out.set(g.GroupId, (g.IpPermissions ?? []).map(toRule));
  return out;
}
