// A whole aws cluster as data: the options validated, the shared network, the cluster's own security
// groups, launch template, scheduler and worker fleet, the log group. Pure; the broker stores it (it holds
// no secret: user-data is built at apply time from the enrolment tokens) and hands it back to apply/destroy.

import { SkiffError } from '../../broker/api/errors.js';
import { parseAwsOptions, type AwsOptions, type SpotPolicy } from './aws-options.js';
import { planNetwork, type NetworkPlan } from './network-plan.js';
import { baseTags, clusterTags, safeName, type Tags } from './tags.js';

export const GATEWAY_PORT = 443;
export const DASK_PORT = 8786;
export const SCHEDULER_HTTP_PORT = 8787;
/** Worker agents report to the scheduler agent here; the cluster security group (all traffic from itself) covers it. */
export const TELEMETRY_PORT = 8788;
export const SSH_PORT = 22;
export const MAX_WORKERS = 5000;

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

export type ImagePlan =
  | { kind: 'named'; imageId: string }
  | { kind: 'lookup'; owners: string[]; namePattern: string; architecture: 'x86_64'; description: string };

export interface AwsClusterPlan {
  version: 1;
  clusterId: string;
  clusterName: string;
  workspace: string;
  region: string;
  zone: string;
  network: NetworkPlan;
  securityGroups: SecurityGroupsPlan;
  image: ImagePlan;
  launchTemplate: { name: string; tags: Tags; instanceProfile?: string };
  scheduler: { vmTypes: string[]; tags: Tags };
  workers: { count: number; vmTypes: string[]; spotPolicy: SpotPolicy; gpu: 0 | 1; publicIp: boolean; tags: Tags };
  /** Tags identifying anything of this cluster (owner, workspace, cluster). */
  clusterTags: Tags;
  logGroup: { name: string; retentionDays: number; tags: Tags };
  warnings: string[];
}

/** Amazon's account alias in DescribeImages. */
const AMAZON = 'amazon';

export function planImage(opts: AwsOptions, gpu: boolean): ImagePlan {
  if (opts.ami) return { kind: 'named', imageId: opts.ami };
  return gpu
    ? {
        kind: 'lookup',
        owners: [AMAZON],
        namePattern: 'Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) *',
        architecture: 'x86_64',
        description: 'the newest Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023)',
      }
    : {
        kind: 'lookup',
        owners: [AMAZON],
        namePattern: 'al2023-ami-2023.*-kernel-*-x86_64',
        architecture: 'x86_64',
        description: 'the newest Amazon Linux 2023 AMI',
      };
}

export function logGroupName(workspace: string): string {
  return `/skiff/${workspace}`;
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
}

/** Validates the request and returns the plan, or throws PRV_INVALID_REQUEST. */
export function planAwsCluster(req: ClusterRequest): AwsClusterPlan {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(req.clusterId)) {
    throw new SkiffError('PRV_INVALID_REQUEST', `cluster id ${JSON.stringify(req.clusterId)} must be 1 to 63 letters, digits, _ or -`);
  }
  if (!Number.isInteger(req.workers) || req.workers < 0 || req.workers > MAX_WORKERS) {
    throw new SkiffError('PRV_INVALID_REQUEST', `workers ${JSON.stringify(req.workers)} must be a whole number from 0 to ${MAX_WORKERS}`);
  }
  const opts = parseAwsOptions(req.options);
  const clusterName = safeName(req.name || req.clusterId).slice(0, 60);
  const base = baseTags(opts.workspace, opts.tags);
  const network = planNetwork(opts);
  const sgs = planSecurityGroups(opts, req.clusterId, base, clusterName);
  const warnings = [...sgs.warnings];
  if (opts.giveWorkersPublicIp && !opts.network) warnings.push('workers get public IPs and run in the public subnet');
  const lt: AwsClusterPlan['launchTemplate'] = {
    name: safeName(`skiff-${req.clusterId}`),
    tags: clusterTags(base, req.clusterId, clusterName, 'launch-template'),
  };
  if (opts.instanceProfile !== undefined) lt.instanceProfile = opts.instanceProfile;
  return {
    version: 1,
    clusterId: req.clusterId,
    clusterName,
    workspace: opts.workspace,
    region: opts.region,
    zone: opts.zone,
    network,
    securityGroups: sgs.plan,
    image: planImage(opts, opts.workerGpu === 1),
    launchTemplate: lt,
    scheduler: { vmTypes: opts.schedulerVmTypes, tags: clusterTags(base, req.clusterId, clusterName, 'scheduler') },
    workers: {
      count: req.workers,
      vmTypes: opts.workerVmTypes,
      spotPolicy: opts.spotPolicy,
      gpu: opts.workerGpu,
      publicIp: opts.giveWorkersPublicIp,
      tags: clusterTags(base, req.clusterId, clusterName, 'worker'),
    },
    clusterTags: { owner: base['owner'] ?? 'skiff', 'skiff:workspace': opts.workspace, 'skiff:cluster': req.clusterId },
    logGroup: { name: logGroupName(opts.workspace), retentionDays: opts.logRetentionDays, tags: base },
    warnings,
  };
}
