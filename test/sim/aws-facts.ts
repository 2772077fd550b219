// What the daemon asks moto about an instance beyond DescribeInstances, cached where EC2 cannot change it
// while the instance runs (user-data, the image's name, the instance profile's role), and the role
// credentials IMDS hands out (fake values moto accepts, renewed before they expire as EC2 does).

import { DescribeImagesCommand, DescribeInstanceAttributeCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, type IAMClient } from '@aws-sdk/client-iam';
import { randomBytes } from 'node:crypto';
import type { RoleCredentials } from './imds-tree.js';

const TIMEOUT_MS = 10_000;
/** IMDS credentials last six hours; EC2 makes new ones available at least five minutes before expiry. */
const CREDENTIALS_TTL_MS = 6 * 3600_000;
const RENEW_BEFORE_MS = 15 * 60_000;

/** Upper-case letters and digits, as AWS key ids have. */
const alnum = (n: number) => Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

export interface AwsFacts {
  userData(instanceId: string): Promise<Buffer | undefined>;
  shutdownBehaviour(instanceId: string): Promise<'stop' | 'terminate'>;
  imageName(imageId: string): Promise<string | undefined>;
  profile(arn: string): Promise<{ arn: string; id: string; roleName?: string } | undefined>;
  credentials(instanceId: string): RoleCredentials;
}

export function createAwsFacts(ec2: EC2Client, iam: IAMClient, now: () => number = Date.now): AwsFacts {
  const images = new Map<string, string | undefined>();
  const profiles = new Map<string, { arn: string; id: string; roleName?: string } | undefined>();
  const creds = new Map<string, RoleCredentials>();
  const opts = () => ({ abortSignal: AbortSignal.timeout(TIMEOUT_MS) });
  return {
    async userData(instanceId) {
      const out = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }), opts());
      const b64 = out.UserData?.Value;
      return b64 ? Buffer.from(b64, 'base64') : undefined;
    },
    async shutdownBehaviour(instanceId) {
      const out = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'instanceInitiatedShutdownBehavior' }), opts());
      // EC2's default is stop.
      return out.InstanceInitiatedShutdownBehavior?.Value === 'terminate' ? 'terminate' : 'stop';
    },
    async imageName(imageId) {
      if (images.has(imageId)) return images.get(imageId);
      const name = await ec2
        .send(new DescribeImagesCommand({ ImageIds: [imageId] }), opts())
        .then((o) => o.Images?.[0]?.Name)
        .catch(() => undefined);
      images.set(imageId, name);
      return name;
    },
    async profile(arn) {
      if (profiles.has(arn)) return profiles.get(arn);
      const name = arn.split('/').pop() ?? '';
      const found = await iam
        .send(new GetInstanceProfileCommand({ InstanceProfileName: name }), opts())
        .then((o) => o.InstanceProfile)
        .catch(() => undefined);
      const value = found ? { arn, id: found.InstanceProfileId ?? `AIPA${alnum(17)}`, ...(found.Roles?.[0]?.RoleName ? { roleName: found.Roles[0].RoleName } : {}) } : undefined;
      profiles.set(arn, value);
      return value;
    },
    credentials(instanceId) {
      const held = creds.get(instanceId);
      if (held && held.expiration.getTime() - now() > RENEW_BEFORE_MS) return held;
      const fresh: RoleCredentials = {
        accessKeyId: `ASIA${alnum(16)}`,
        secretAccessKey: randomBytes(30).toString('base64'),
        token: `IQoJb3JpZ2luX2VjE${randomBytes(240).toString('base64')}`,
        lastUpdated: new Date(now()),
        expiration: new Date(now() + CREDENTIALS_TTL_MS),
      };
      creds.set(instanceId, fresh);
      return fresh;
    },
  };
}
