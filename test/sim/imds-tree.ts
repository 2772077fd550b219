// The instance metadata one instance sees, as a tree of paths (pure). Categories and formats follow the EC2
// User Guide, "Instance metadata categories", "Retrieve security credentials from instance metadata", "Spot
// Instance interruption notices" and "EC2 instance rebalance recommendations". An absent leaf answers 404,
// as IMDS does for public-ipv4 without a public address or spot/instance-action before any notice.

import type { SimInstance } from './ec2-view.js';
import { isoSeconds, jacksonJson, type IdentitySigner } from './identity.js';
import type { SpotAction } from './types.js';

export type MdValue = string | Buffer;
export type MdNode = MdValue | (() => MdValue) | MdDir | undefined;
export interface MdDir {
  [name: string]: MdNode;
}

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  token: string;
  lastUpdated: Date;
  expiration: Date;
}

export interface InstanceExtras {
  region: string;
  userData?: Buffer;
  profile?: { arn: string; id: string; roleName?: string };
  credentials?: () => RoleCredentials;
  spotAction?: SpotAction;
  rebalanceNoticeTime?: string;
  signer: IdentitySigner;
}

/** EC2's internal DNS names: ip-10-0-1-5.ec2.internal in us-east-1, ip-10-0-1-5.<region>.compute.internal elsewhere. */
export function internalHostname(privateIp: string, region: string): string {
  const host = `ip-${privateIp.replace(/\./g, '-')}`;
  return region === 'us-east-1' ? `${host}.ec2.internal` : `${host}.${region}.compute.internal`;
}

function iamDir(x: InstanceExtras): MdDir | undefined {
  const p = x.profile;
  if (!p) return undefined;
  const info = (): string =>
    jacksonJson([
      ['Code', 'Success'],
      ['LastUpdated', isoSeconds(x.credentials?.().lastUpdated ?? new Date())],
      ['InstanceProfileArn', p.arn],
      ['InstanceProfileId', p.id],
    ]);
  const creds: MdDir = {};
  // A profile without a role has no credentials: security-credentials/ is then absent.
  if (p.roleName && x.credentials) {
    const get = x.credentials;
    creds[p.roleName] = () => {
      const c = get();
      return jacksonJson([
        ['Code', 'Success'],
        ['LastUpdated', isoSeconds(c.lastUpdated)],
        ['Type', 'AWS-HMAC'],
        ['AccessKeyId', c.accessKeyId],
        ['SecretAccessKey', c.secretAccessKey],
        ['Token', c.token],
        ['Expiration', isoSeconds(c.expiration)],
      ]);
    };
  }
  return { info, 'security-credentials': p.roleName ? creds : undefined };
}

export function buildMetadata(inst: SimInstance, x: InstanceExtras): MdDir {
  const privateIp = inst.privateIp ?? '';
  const hostname = inst.privateDnsName ?? internalHostname(privateIp, x.region);
  const mac = inst.mac ?? '02:00:00:00:00:00';
  const groupNames = inst.groups.map((g) => g.name).join('\n');
  const spot = x.spotAction;
  const document = () => x.signer.document(inst, x.region);
  const iface: MdDir = {
    'device-number': '0',
    'interface-id': inst.eniId,
    'local-hostname': hostname,
    'local-ipv4s': privateIp,
    mac,
    'owner-id': inst.accountId,
    'public-hostname': inst.publicIp ? inst.publicDnsName : undefined,
    'public-ipv4s': inst.publicIp,
    'security-group-ids': inst.groups.map((g) => g.id).join('\n'),
    'security-groups': groupNames,
    'subnet-id': inst.subnetId,
    'vpc-id': inst.vpcId,
  };
  return {
    'meta-data': {
      'ami-id': inst.imageId,
      'ami-launch-index': String(inst.amiLaunchIndex),
      'ami-manifest-path': '(unknown)',
      'block-device-mapping': { ami: '/dev/xvda', root: '/dev/xvda' },
      events: {
        maintenance: { history: '[]', scheduled: '[]' },
        recommendations: x.rebalanceNoticeTime ? { rebalance: `{"noticeTime": ${JSON.stringify(x.rebalanceNoticeTime)}}` } : undefined,
      },
      hostname,
      iam: iamDir(x),
      'instance-action': 'none',
      'instance-id': inst.instanceId,
      'instance-life-cycle': inst.lifecycle,
      'instance-type': inst.instanceType,
      'local-hostname': hostname,
      'local-ipv4': privateIp,
      mac,
      network: { interfaces: { macs: { [mac]: iface } } },
      placement: { 'availability-zone': inst.availabilityZone, region: x.region },
      'public-hostname': inst.publicIp ? inst.publicDnsName : undefined,
      'public-ipv4': inst.publicIp,
      'reservation-id': inst.reservationId,
      'security-groups': groupNames,
      services: { domain: 'amazonaws.com', partition: 'aws' },
      // The documented notice: {"action": "terminate", "time": "2017-09-18T08:22:00Z"}.
      spot: spot
        ? {
            'instance-action': `{"action": ${JSON.stringify(spot.action)}, "time": ${JSON.stringify(spot.time)}}`,
            'termination-time': spot.action === 'terminate' ? spot.time : undefined,
          }
        : undefined,
    },
    dynamic: {
      'instance-identity': {
        document,
        pkcs7: () => x.signer.pkcs7(document()),
        rsa2048: () => x.signer.rsa2048(document()),
        signature: () => x.signer.signature(document()),
      },
    },
    'user-data': x.userData,
  };
}

export type Lookup = { kind: 'value'; body: MdValue } | { kind: 'dir'; body: string } | { kind: 'missing' };

/** Walks `path` (below the version, e.g. 'meta-data/placement/region'). A directory answers its listing. */
export function lookupMetadata(root: MdDir, path: string): Lookup {
  const parts = path.split('/').filter(Boolean);
  let node: MdNode = root;
  for (const part of parts) {
    if (node === undefined || typeof node === 'string' || Buffer.isBuffer(node) || typeof node === 'function') return { kind: 'missing' };
    node = Object.hasOwn(node, part) ? node[part] : undefined;
  }
  if (node === undefined) return { kind: 'missing' };
  if (typeof node === 'function') return { kind: 'value', body: node() };
  if (typeof node === 'string' || Buffer.isBuffer(node)) return { kind: 'value', body: node };
  const dir = node;
  const names = Object.keys(dir)
    .filter((k) => dir[k] !== undefined)
    .map((k) => {
      const v = dir[k];
      return typeof v === 'object' && !Buffer.isBuffer(v) ? `${k}/` : k;
    });
  return { kind: 'dir', body: names.join('\n') };
}
