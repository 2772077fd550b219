// What the daemon asks moto about an instance beyond DescribeInstances, cached where EC2 cannot change it
// while the instance runs (user-data, the image's name, the instance profile's role, the launch template
// version it was launched from), and the role credentials IMDS hands out (fake values moto accepts, renewed
// before they expire as EC2 does).
//
// What EC2 takes from a launch template and moto does not: an instance an instant EC2 Fleet launches from a
// template gets the template's IamInstanceProfile and InstanceInitiatedShutdownBehavior on EC2; moto records
// neither (no profile, shutdown behaviour "stop"), and does not tag it aws:ec2launchtemplate:id/version as it
// does a RunInstances launch. The template version is found from that tag or from DescribeFleets, whose
// Instances list each instance with the template and version it came from, as EC2's does for instant fleets.

import {
  DescribeFleetsCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeLaunchTemplateVersionsCommand,
  type EC2Client,
  type ResponseLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, type IAMClient } from '@aws-sdk/client-iam';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimInstance } from './ec2-view.js';
import type { RoleCredentials } from './imds-tree.js';

const TIMEOUT_MS = 10_000;
/** IMDS credentials last six hours; EC2 makes new ones available at least five minutes before expiry. */
const CREDENTIALS_TTL_MS = 6 * 3600_000;
const RENEW_BEFORE_MS = 15 * 60_000;

/** Upper-case letters and digits, as AWS key ids have. */
const alnum = (n: number) => Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

export interface InstanceProfileFacts {
  arn: string;
  id: string;
  roleName?: string;
}

export interface AwsFacts {
  userData(instanceId: string): Promise<Buffer | undefined>;
  /**
   * What EC2 does on an instance-initiated shutdown: the instance's attribute when moto records terminate, else
   * the launch template version's InstanceInitiatedShutdownBehavior, else EC2's default, stop.
   */
  shutdownBehaviour(inst: SimInstance): Promise<'stop' | 'terminate'>;
  imageName(imageId: string): Promise<string | undefined>;
  /** The instance profile the instance runs as: its own (moto's record), else its launch template's. */
  instanceProfile(inst: SimInstance): Promise<InstanceProfileFacts | undefined>;
  /** The data of the launch template version the instance was launched from (undefined: not from a template). */
  launchTemplateData(inst: SimInstance): Promise<ResponseLaunchTemplateData | undefined>;
  credentials(instanceId: string): RoleCredentials;
}

/** moto lists an instant fleet a moment after its instances: a launch not found at once is looked for again once. */
const FLEET_RACE_RETRY_MS = 500;

export function createAwsFacts(ec2: EC2Client, iam: IAMClient, now: () => number = Date.now): AwsFacts {
  const images = new Map<string, string | undefined>();
  const profiles = new Map<string, InstanceProfileFacts | undefined>();
  const templates = new Map<string, Promise<ResponseLaunchTemplateData | undefined>>();
  const creds = new Map<string, RoleCredentials>();
  const opts = () => ({ abortSignal: AbortSignal.timeout(TIMEOUT_MS) });

  async function fleetLaunchOf(instanceId: string): Promise<{ id: string; version: string } | undefined> {
    let token: string | undefined;
    // Bounded: 50 pages of fleets.
    for (let page = 0; page < 50; page++) {
      const out = await ec2.send(new DescribeFleetsCommand({ ...(token ? { NextToken: token } : {}) }), opts());
      for (const f of out.Fleets ?? []) {
        for (const i of f.Instances ?? []) {
          const spec = i.LaunchTemplateAndOverrides?.LaunchTemplateSpecification;
          if (i.InstanceIds?.includes(instanceId) && spec?.LaunchTemplateId) return { id: spec.LaunchTemplateId, version: spec.Version ?? '$Default' };
        }
      }
      token = out.NextToken;
      if (!token) break;
    }
    return undefined;
  }

  async function launchOf(inst: SimInstance): Promise<{ id: string; version: string } | undefined> {
    const id = inst.tags['aws:ec2launchtemplate:id'];
    const version = inst.tags['aws:ec2launchtemplate:version'];
    if (id && version) return { id, version };
    return (await fleetLaunchOf(inst.instanceId)) ?? (await sleep(FLEET_RACE_RETRY_MS), await fleetLaunchOf(inst.instanceId));
  }

  async function readTemplateData(inst: SimInstance): Promise<ResponseLaunchTemplateData | undefined> {
    const launch = await launchOf(inst);
    if (!launch) return undefined;
    try {
      const out = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: launch.id, Versions: [launch.version] }), opts());
      return out.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
    } catch (err) {
      // Deleted since (a cluster's template goes with `down`): what it said is no longer knowable.
      if (/^InvalidLaunchTemplate/.test((err as { name?: string }).name ?? '')) return undefined;
      throw err;
    }
  }

  async function profile(ref: { arn?: string; name?: string }): Promise<InstanceProfileFacts | undefined> {
    const key = ref.arn ?? `name:${ref.name ?? ''}`;
    if (profiles.has(key)) return profiles.get(key);
    const name = ref.name ?? ref.arn?.split('/').pop() ?? '';
    const found = await iam
      .send(new GetInstanceProfileCommand({ InstanceProfileName: name }), opts())
      .then((o) => o.InstanceProfile)
      .catch(() => undefined);
    const arn = ref.arn ?? found?.Arn;
    const value = found && arn ? { arn, id: found.InstanceProfileId ?? `AIPA${alnum(17)}`, ...(found.Roles?.[0]?.RoleName ? { roleName: found.Roles[0].RoleName } : {}) } : undefined;
    profiles.set(key, value);
    return value;
  }

  const facts: AwsFacts = {
    async userData(instanceId) {
      const out = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }), opts());
      const b64 = out.UserData?.Value;
      return b64 ? Buffer.from(b64, 'base64') : undefined;
    },
    async shutdownBehaviour(inst) {
      const out = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: inst.instanceId, Attribute: 'instanceInitiatedShutdownBehavior' }), opts());
      if (out.InstanceInitiatedShutdownBehavior?.Value === 'terminate') return 'terminate';
      // moto answers stop (its default) for an instance whose template says terminate: the template decides then.
      const data = await facts.launchTemplateData(inst);
      return data?.InstanceInitiatedShutdownBehavior === 'terminate' ? 'terminate' : 'stop';
    },
    launchTemplateData(inst) {
      // A template version never changes, and the instance keeps what it was launched with: read once.
      let held = templates.get(inst.instanceId);
      if (!held) {
        held = readTemplateData(inst);
        templates.set(inst.instanceId, held);
        // A failed read (moto busy) is tried again next time.
        held.catch(() => templates.delete(inst.instanceId));
      }
      return held;
    },
    async instanceProfile(inst) {
      if (inst.profileArn) return profile({ arn: inst.profileArn });
      const fromTemplate = (await facts.launchTemplateData(inst))?.IamInstanceProfile;
      if (fromTemplate?.Arn) return profile({ arn: fromTemplate.Arn });
      if (fromTemplate?.Name) return profile({ name: fromTemplate.Name });
      return undefined;
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
  return facts;
}
