// A whole aws cluster as data: the options validated, the shared network, the cluster's own security
// groups, launch template, scheduler and worker fleet, the log group, and the account facts they were checked
// against (zones, instance types, images, vCPU quotas). Pure: the facts are read by the aws adapter
// (provisioner/aws/preflight.ts) and passed in; this decides. The broker stores the plan (it holds no secret:
// user-data is built at apply time from the enrolment tokens) and hands it back to apply/destroy, which use
// the facts in it instead of looking them up again.
//
//   request ──parse (no I/O)──► options ──read-only AWS calls──► facts ──planAwsCluster (pure)──► plan

import { SkiffError } from '../../broker/api/errors.js';
import { logGroupFor } from '../../broker/api/logs.js';
import { parseAwsOptions, type AwsOptions, type SpotPolicy } from './aws-options.js';
import type { ResolvedImage } from './images.js';
import { planDisks, type RootDisk } from './disks.js';
import { checkWorkerGpus, roleArchitecture, smallestType, type Architecture, type InstanceTypeFacts } from './instance-types.js';
import { planNetwork, type NetworkPlan } from './network-plan.js';
import { checkVcpuQuotas, lifecyclesOf, type QuotaCheck, type VcpuRequest } from './quotas.js';
import { baseTags, clusterTags, safeName, type Tags } from './tags.js';
import { chooseZone } from './zones.js';

export const GATEWAY_PORT = 443;
export const DASK_PORT = 8786;
export const SCHEDULER_HTTP_PORT = 8787;
/** Worker agents report to the scheduler agent here; the cluster security group (all traffic from itself) covers it. */
export const TELEMETRY_PORT = 8788;
export const SSH_PORT = 22;

export interface IngressRule {
  protocol: 'tcp' | '-1';
  fromPort: number;
  toPort: number;
  /** Either a CIDR block or 'self' (the group itself). */
  source: { cidr: string } | { self: true };
  description: string;
}

export interface SecurityGroupPlan {
  name: string;
  description: string;
  ingress: IngressRule[];
  tags: Tags;
}

export type SecurityGroupsPlan =
  | { kind: 'managed'; scheduler: SecurityGroupPlan; cluster: SecurityGroupPlan }
  | { kind: 'byo'; schedulerGroupId: string; clusterGroupId: string };

export interface AwsClusterPlan {
  /** 2: facts included (1: plans made before; destroy and reads still accept them, apply does not). */
  version: 1 | 2;
  clusterId: string;
  clusterName: string;
  workspace: string;
  region: string;
  /** The scheduler's zone (and the NAT gateway's, for a new network): the user's, else the first available. */
  zone: string;
  /** The account's usable zones in the region when planned (DescribeAvailabilityZones). */
  zones: string[];
  network: NetworkPlan;
  securityGroups: SecurityGroupsPlan;
  /** The image each role boots, resolved when planned. */
  images: { scheduler: ResolvedImage; worker: ResolvedImage };
  /** vCPUs, architecture and GPUs of every listed type. */
  instanceTypes: Record<string, InstanceTypeFacts>;
  launchTemplate: { name: string; tags: Tags; instanceProfile?: string };
  /** disk: the root volume (plan/disks.ts); absent in plans made before disks were planned (the image's default). */
  scheduler: { vmTypes: string[]; architecture: Architecture; tags: Tags; disk?: RootDisk };
  workers: {
    count: number;
    /** The fewest the cluster may start with (min_workers; default: count). */
    minCount: number;
    vmTypes: string[];
    architecture: Architecture;
    /** Zones the fleet may place workers in: every zone of the managed network, or the pinned zone only (none: BYO). */
    zones: string[];
    spotPolicy: SpotPolicy;
    gpu: 0 | 1;
    publicIp: boolean;
    tags: Tags;
    disk?: RootDisk;
  };
  /** The vCPU quotas checked when planned (those that could be read). */
  quotas: QuotaCheck[];
  /** Tags identifying anything of this cluster (owner, workspace, cluster). */
  clusterTags: Tags;
  logGroup: { name: string; retentionDays: number; tags: Tags };
  warnings: string[];
}

/** What plan() read from the account, read-only, for planAwsCluster to decide on. */
export interface PlanFacts {
  /** Usable zones of the region (zones.ts usableZones). */
  zones: string[];
  /** Facts of every scheduler and worker type (instance-types.ts instanceTypeFacts). */
  instanceTypes: Record<string, InstanceTypeFacts>;
  /** The image found for each role (the named ami, or the default of the role's architecture). */
  images: { scheduler: ResolvedImage; worker: ResolvedImage };
  /** A bring-your-own network as checked: the scheduler subnet's zone, whether the worker subnet assigns public IPs. */
  byo?: { zone: string; workerSubnetAssignsPublicIp: boolean };
  /** vCPU quotas that could be read, by code, and the vCPUs in use in each. */
  quotaLimits: Record<string, number>;
  quotaUsage: Record<string, number>;
}

export function planSecurityGroups(opts: AwsOptions, clusterId: string, base: Tags, clusterName: string): { plan: SecurityGroupsPlan; warnings: string[] } {
  if (opts.network) {
    return { plan: { kind: 'byo', schedulerGroupId: opts.network.schedulerFirewallId, clusterGroupId: opts.network.firewallId }, warnings: [] };
  }
  const warnings: string[] = [];
  const ingress: IngressRule[] = [];
  for (const port of opts.firewall.ports) {
    if (port === SSH_PORT) {
      if (opts.sshFrom === undefined) {
        warnings.push('no SSH rule: your IP address could not be detected; pass --ssh-from <your IP> to open port 22 to it');
        continue;
      }
      ingress.push({ protocol: 'tcp', fromPort: port, toPort: port, source: { cidr: `${opts.sshFrom}/32` }, description: 'ssh from the client only' });
    } else {
      ingress.push({ protocol: 'tcp', fromPort: port, toPort: port, source: { cidr: opts.firewall.cidr }, description: port === GATEWAY_PORT ? 'skiff gateway' : 'firewall port' });
    }
  }
  const name = safeName(`skiff-${clusterId}`);
  return {
    plan: {
      kind: 'managed',
      scheduler: { name: `${name}-scheduler`, description: 'skiff scheduler: public ports', ingress, tags: clusterTags(base, clusterId, clusterName, 'scheduler-sg') },
      cluster: {
        name: `${name}-cluster`,
        description: 'skiff cluster: all traffic between its machines',
        ingress: [{ protocol: '-1', fromPort: -1, toPort: -1, source: { self: true }, description: 'cluster-internal' }],
        tags: clusterTags(base, clusterId, clusterName, 'cluster-sg'),
      },
    },
    warnings,
  };
}

export interface ClusterRequest {
  clusterId: string;
  name: string;
  workers: number;
  options?: Readonly<Record<string, unknown>> | undefined;
  /** The request's workspace (default: `default`). */
  workspace?: string | undefined;
}

/** What can be checked without AWS: the cluster id, the worker count, the options. Throws PRV_INVALID_REQUEST. */
export function parseClusterRequest(req: ClusterRequest): AwsOptions {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(req.clusterId)) {
    throw new SkiffError('PRV_INVALID_REQUEST', `cluster id ${JSON.stringify(req.clusterId)} must be 1 to 63 letters, digits, _ or -`);
  }
  // The count's bounds are the broker's (broker/api/limits.ts); what the account can run is the quota check's.
  if (!Number.isInteger(req.workers) || req.workers < 0) {
    throw new SkiffError('PRV_INVALID_REQUEST', `workers ${JSON.stringify(req.workers)} must be a whole number`);
  }
  return parseAwsOptions(req.options, req.workers, req.workspace);
}

/** The least vCPUs the request needs, for the quota check (quotas.ts). */
export function vcpuRequestOf(opts: AwsOptions, workers: number, types: Readonly<Record<string, InstanceTypeFacts>>): VcpuRequest {
  const sched = smallestType(opts.schedulerVmTypes, types);
  return {
    scheduler: { type: sched, vcpus: types[sched]?.vcpus ?? 0 },
    workers: {
      count: workers,
      minCount: opts.minWorkers ?? workers,
      types: opts.workerVmTypes.map((t) => ({ type: t, vcpus: types[t]?.vcpus ?? 0 })),
      lifecycles: lifecyclesOf(opts.spotPolicy),
    },
  };
}

function checkImage(role: 'scheduler' | 'worker', image: ResolvedImage, arch: Architecture, types: string[]): void {
  if (image.architecture !== arch) {
    throw new SkiffError(
      'PRV_INVALID_REQUEST',
      `image ${image.imageId} (${image.name}) is ${image.architecture} but ${role}_vm_types ${types.join(', ')} are ${arch}; name an ${arch} ami or choose ${image.architecture} instance types`,
    );
  }
}

/** Validates the request against the account's facts and returns the plan, or throws PRV_INVALID_REQUEST. */
export function planAwsCluster(req: ClusterRequest, facts: PlanFacts): AwsClusterPlan {
  const opts = parseClusterRequest(req);
  const clusterName = safeName(req.name || req.clusterId).slice(0, 60);
  const base = baseTags(opts.workspace, opts.tags);
  const warnings: string[] = [];

  const types = facts.instanceTypes;
  const schedulerArch = roleArchitecture('scheduler', opts.schedulerVmTypes, types);
  const workerArch = roleArchitecture('worker', opts.workerVmTypes, types);
  if (opts.workerGpu === 1) checkWorkerGpus(opts.workerVmTypes, types);
  checkImage('scheduler', facts.images.scheduler, schedulerArch, opts.schedulerVmTypes);
  checkImage('worker', facts.images.worker, workerArch, opts.workerVmTypes);

  let zone: string;
  let workerZones: string[];
  if (opts.network) {
    if (!facts.byo) throw new SkiffError('PRV_INVALID_REQUEST', 'the bring-your-own network was not checked');
    zone = facts.byo.zone;
    workerZones = [];
    if (opts.zone !== undefined && opts.zone !== zone) warnings.push(`zone ${opts.zone} is ignored: the scheduler subnet ${opts.network.schedulerSubnetId} is in ${zone}`);
    if (opts.giveWorkersPublicIp && !facts.byo.workerSubnetAssignsPublicIp) {
      throw new SkiffError(
        'PRV_INVALID_REQUEST',
        `give_workers_public_ip is true but worker subnet ${opts.network.workerSubnetId} does not assign public IPv4 addresses on launch; ` +
          'turn on "auto-assign public IPv4 address" for it, or set give_workers_public_ip false',
      );
    }
    if (!opts.giveWorkersPublicIp && facts.byo.workerSubnetAssignsPublicIp) {
      warnings.push(`worker subnet ${opts.network.workerSubnetId} assigns public IPv4 addresses on launch, so workers get one; their security group admits nothing from outside`);
    }
  } else {
    zone = chooseZone(opts.region, opts.zone, facts.zones);
    workerZones = opts.zone !== undefined ? [zone] : [...facts.zones];
  }
  const network = planNetwork(opts, facts.zones, zone);

  const verdict = checkVcpuQuotas(opts.region, vcpuRequestOf(opts, req.workers, types), facts.quotaLimits, facts.quotaUsage);
  if (!verdict.ok) throw new SkiffError('PRV_INVALID_REQUEST', verdict.message);
  warnings.push(...verdict.warnings);

  const sgs = planSecurityGroups(opts, req.clusterId, base, clusterName);
  warnings.push(...sgs.warnings);
  if (opts.giveWorkersPublicIp && !opts.network) warnings.push('workers get public IPs and run in the public subnets');
  const lt: AwsClusterPlan['launchTemplate'] = {
    name: safeName(`skiff-${req.clusterId}`),
    tags: clusterTags(base, req.clusterId, clusterName, 'launch-template'),
  };
  if (opts.instanceProfile !== undefined) lt.instanceProfile = opts.instanceProfile;
  const usedTypes = [...new Set([...opts.schedulerVmTypes, ...opts.workerVmTypes])];
  const disks = planDisks(opts.diskSizeGiB, facts.images, opts.workerVmTypes, types);
  return {
    version: 2,
    clusterId: req.clusterId,
    clusterName,
    workspace: opts.workspace,
    region: opts.region,
    zone,
    zones: [...facts.zones],
    network,
    securityGroups: sgs.plan,
    images: { scheduler: facts.images.scheduler, worker: facts.images.worker },
    instanceTypes: Object.fromEntries(usedTypes.flatMap((t): [string, InstanceTypeFacts][] => (types[t] ? [[t, types[t]]] : []))),
    launchTemplate: lt,
    scheduler: { vmTypes: opts.schedulerVmTypes, architecture: schedulerArch, tags: clusterTags(base, req.clusterId, clusterName, 'scheduler'), disk: disks.scheduler },
    workers: {
      count: req.workers,
      minCount: opts.minWorkers ?? req.workers,
      vmTypes: opts.workerVmTypes,
      architecture: workerArch,
      zones: workerZones,
      spotPolicy: opts.spotPolicy,
      gpu: opts.workerGpu,
      publicIp: opts.giveWorkersPublicIp,
      tags: clusterTags(base, req.clusterId, clusterName, 'worker'),
      disk: disks.worker,
    },
    quotas: verdict.checks,
    clusterTags: { owner: base['owner'] ?? 'skiff', 'skiff:workspace': opts.workspace, 'skiff:cluster': req.clusterId },
    logGroup: { name: logGroupFor(opts.workspace), retentionDays: opts.logRetentionDays, tags: base },
    warnings,
  };
}
