// Validates the `aws` backend options of a cluster request, all at once and before any API call. Every
// error is PRV_INVALID_REQUEST and names the bad value and what would be valid. Keys are the snake_case
// names users write in config and on the command line.

import { SkiffError } from '../../broker/api/errors.js';
import { DEFAULT_WORKSPACE, WORKSPACE_NAME, WORKSPACE_NAME_RULE } from '../../broker/api/limits.js';
import { DEFAULT_RETENTION_DAYS, isRetentionDays, RETENTION_DAYS } from '../../broker/api/logs.js';
import { parseCidr, parseIpv4 } from './cidr.js';
import { MAX_DISK_GIB, MIN_DISK_GIB } from './disks.js';
import { DEFAULT_REGION, SUPPORTED_REGIONS, isSupportedRegion, zoneLetterOf, type Region } from './regions.js';

export type SpotPolicy = 'on-demand' | 'spot' | 'spot_with_fallback';
export const SPOT_POLICIES: readonly SpotPolicy[] = ['on-demand', 'spot', 'spot_with_fallback'];

export interface FirewallSpec {
  ports: number[];
  cidr: string;
}

/** Bring-your-own network ids (ids, not ARNs). */
export interface ByoNetwork {
  networkId: string;
  schedulerSubnetId: string;
  workerSubnetId: string;
  schedulerFirewallId: string;
  firewallId: string;
}

export interface AwsOptions {
  region: Region;
  /** The zone the user pinned (checked against DescribeAvailabilityZones at plan time); absent: any zone. */
  zone?: string;
  /** Groups the shared network and the log group; one network per workspace and region. */
  workspace: string;
  vpcCidr: string;
  firewall: FirewallSpec;
  /** The client's own IPv4 address; port 22 opens to it as /32 only. */
  sshFrom?: string;
  spotPolicy: SpotPolicy;
  schedulerVmTypes: string[];
  workerVmTypes: string[];
  workerGpu: 0 | 1;
  giveWorkersPublicIp: boolean;
  /** User tags added to every resource. */
  tags: Record<string, string>;
  /** AMI named by the user; otherwise the current one of the region is looked up. */
  ami?: string;
  /** Instance profile for the VMs (lets the agent write to CloudWatch Logs). */
  instanceProfile?: string;
  network?: ByoNetwork;
  logRetentionDays: number;
  /** The fewest workers the cluster may start with when EC2 cannot give them all; absent: all requested. */
  minWorkers?: number;
  /** The workers' root volume in GiB (disk_size); absent: the default of plan/disks.ts. */
  diskSizeGiB?: number;
}

export const DEFAULT_SCHEDULER_VM_TYPES = ['m6i.large', 'm5.large'];
export const DEFAULT_WORKER_VM_TYPES = ['m6i.xlarge', 'm5.xlarge'];
export const DEFAULT_GPU_WORKER_VM_TYPES = ['g4dn.xlarge', 'g5.xlarge'];
export const DEFAULT_VPC_CIDR = '10.0.0.0/16';
export const MAX_VM_TYPES = 10;
export const MAX_USER_TAGS = 40;

const KNOWN_KEYS = [
  'region',
  'zone',
  'workspace',
  'vpc_cidr',
  'firewall',
  'ssh_from',
  'spot_policy',
  'scheduler_vm_types',
  'worker_vm_types',
  'worker_gpu',
  'give_workers_public_ip',
  'tags',
  'ami',
  'instance_profile',
  'network_id',
  'scheduler_subnet_id',
  'worker_subnet_id',
  'scheduler_firewall_id',
  'firewall_id',
  'log_retention_days',
  'min_workers',
  'disk_size',
] as const;

const BYO_KEYS = ['network_id', 'scheduler_subnet_id', 'worker_subnet_id', 'scheduler_firewall_id', 'firewall_id'] as const;
const BYO_PREFIX: Record<(typeof BYO_KEYS)[number], string> = {
  network_id: 'vpc',
  scheduler_subnet_id: 'subnet',
  worker_subnet_id: 'subnet',
  scheduler_firewall_id: 'sg',
  firewall_id: 'sg',
};

const VM_TYPE_RE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const AMI_RE = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
const PROFILE_RE = /^[\w+=,.@-]{1,128}$/;

function invalid(message: string): SkiffError {
  return new SkiffError('PRV_INVALID_REQUEST', message);
}

function str(opts: Record<string, unknown>, key: string): string | undefined {
  const v = opts[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw invalid(`option ${key} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function vmTypes(opts: Record<string, unknown>, key: string, fallback: string[]): string[] {
  const v = opts[key];
  if (v === undefined || v === null) return [...fallback];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid(`option ${key} must be a non-empty list of instance types such as ["m6i.large"], got ${JSON.stringify(v)}`);
  }
  if (list.length > MAX_VM_TYPES) throw invalid(`option ${key} lists ${list.length} instance types; at most ${MAX_VM_TYPES} are tried`);
  const out: string[] = [];
  for (const t of list) {
    if (typeof t !== 'string' || !VM_TYPE_RE.test(t)) {
      throw invalid(`option ${key}: ${JSON.stringify(t)} is not an instance type; write family.size, e.g. "m6i.large"`);
    }
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

function firewallOf(v: unknown): FirewallSpec {
  if (v === undefined || v === null) return { ports: [22, 443], cidr: '0.0.0.0/0' };
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`option firewall must be {"ports": [...], "cidr": "a.b.c.d/n"}, got ${JSON.stringify(v)}`);
  const f = v as Record<string, unknown>;
  for (const k of Object.keys(f)) {
    if (k !== 'ports' && k !== 'cidr') throw invalid(`option firewall has unknown key ${JSON.stringify(k)}; valid keys: ports, cidr`);
  }
  const rawPorts = f['ports'] ?? [22, 443];
  if (!Array.isArray(rawPorts) || rawPorts.length === 0 || rawPorts.length > 20) {
    throw invalid(`firewall.ports must be a list of 1 to 20 ports, got ${JSON.stringify(rawPorts)}`);
  }
  const ports: number[] = [];
  for (const p of rawPorts) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
      throw invalid(`firewall port ${JSON.stringify(p)} is not a port; valid ports are whole numbers from 1 to 65535`);
    }
    if (!ports.includes(p)) ports.push(p);
  }
  const cidr = f['cidr'] ?? '0.0.0.0/0';
  if (typeof cidr !== 'string') throw invalid(`firewall.cidr must be a string such as "0.0.0.0/0", got ${JSON.stringify(cidr)}`);
  const parsed = parseCidr(cidr);
  if (!parsed.ok) throw invalid(`firewall.cidr ${JSON.stringify(cidr)} is not a valid IPv4 CIDR block: ${parsed.reason}`);
  return { ports, cidr };
}

function tagsOf(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`option tags must be an object of string keys and values, got ${JSON.stringify(v)}`);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_USER_TAGS) throw invalid(`option tags has ${entries.length} tags; at most ${MAX_USER_TAGS} (skiff adds its own)`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (k.length === 0 || k.length > 128) throw invalid(`tag key ${JSON.stringify(k)} must be 1 to 128 characters`);
    if (/^(aws:|skiff:)/i.test(k) || k === 'owner' || k === 'Name') {
      throw invalid(`tag key ${JSON.stringify(k)} is reserved (aws:*, skiff:*, owner, Name); choose another key`);
    }
    if (typeof val !== 'string' || val.length > 256) throw invalid(`tag ${JSON.stringify(k)} must have a string value of at most 256 characters`);
    out[k] = val;
  }
  return out;
}

function byoOf(opts: Record<string, unknown>): ByoNetwork | undefined {
  const given = BYO_KEYS.filter((k) => opts[k] !== undefined && opts[k] !== null);
  if (given.length === 0) return undefined;
  const missing = BYO_KEYS.filter((k) => !given.includes(k));
  if (missing.length > 0) {
    throw invalid(`bring-your-own network needs all of ${BYO_KEYS.join(', ')}; missing: ${missing.join(', ')}`);
  }
  const ids: Partial<Record<(typeof BYO_KEYS)[number], string>> = {};
  for (const k of BYO_KEYS) {
    const v = str(opts, k) ?? '';
    if (v.startsWith('arn:')) throw invalid(`option ${k} takes an id such as ${BYO_PREFIX[k]}-0123456789abcdef0, not an ARN (${v})`);
    if (!new RegExp(`^${BYO_PREFIX[k]}-[0-9a-f]{8}([0-9a-f]{9})?$`).test(v)) {
      throw invalid(`option ${k} ${JSON.stringify(v)} is not a ${BYO_PREFIX[k]} id; expected ${BYO_PREFIX[k]}- followed by 8 or 17 hex digits`);
    }
    ids[k] = v;
  }
  return {
    networkId: ids.network_id ?? '',
    schedulerSubnetId: ids.scheduler_subnet_id ?? '',
    workerSubnetId: ids.worker_subnet_id ?? '',
    schedulerFirewallId: ids.scheduler_firewall_id ?? '',
    firewallId: ids.firewall_id ?? '',
  };
}

function minWorkersOf(v: unknown, workers: number | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`min_workers ${JSON.stringify(v)} must be a whole number from 0 to the number of workers`);
  if (workers !== undefined && v > workers) throw invalid(`min_workers ${v} is more than the ${workers} workers asked for; use a number from 0 to ${workers}`);
  return v;
}

/**
 * Validates raw options into AwsOptions, or throws PRV_INVALID_REQUEST naming the first bad value. `workers`
 * (the request's worker count) bounds min_workers. Only what can be told without AWS is checked here; the zone's
 * availability, the instance types and the image are checked by plan() against the account.
 */
/**
 * `workspace` is the request's (skiff up --workspace); the `workspace` option, when given, must agree with it
 * (an older spelling of the same choice).
 */
export function parseAwsOptions(raw: Readonly<Record<string, unknown>> | undefined, workers?: number, workspace?: string): AwsOptions {
  const opts: Record<string, unknown> = { ...(raw ?? {}) };
  for (const k of Object.keys(opts)) {
    if (!(KNOWN_KEYS as readonly string[]).includes(k)) {
      throw invalid(`unknown aws option ${JSON.stringify(k)}; valid options: ${KNOWN_KEYS.join(', ')}`);
    }
  }
  const regionRaw = str(opts, 'region') ?? DEFAULT_REGION;
  if (!isSupportedRegion(regionRaw)) {
    throw invalid(`region ${JSON.stringify(regionRaw)} is not supported; valid regions: ${SUPPORTED_REGIONS.join(', ')}`);
  }
  const region = regionRaw;
  const zone = str(opts, 'zone');
  if (zone !== undefined && zoneLetterOf(region, zone) === undefined) {
    throw invalid(`zone ${JSON.stringify(zone)} is not in region ${region}; its zones are named ${region} and a letter, e.g. ${region}a`);
  }
  const optionWorkspace = str(opts, 'workspace');
  if (optionWorkspace !== undefined && workspace !== undefined && workspace !== DEFAULT_WORKSPACE && optionWorkspace !== workspace) {
    throw invalid(`the workspace option ${JSON.stringify(optionWorkspace)} contradicts --workspace ${workspace}; give one`);
  }
  const ws = optionWorkspace ?? workspace ?? DEFAULT_WORKSPACE;
  if (!WORKSPACE_NAME.test(ws)) throw invalid(`workspace ${JSON.stringify(ws)} must be ${WORKSPACE_NAME_RULE}`);
  const vpcCidr = str(opts, 'vpc_cidr') ?? DEFAULT_VPC_CIDR;
  const vpc = parseCidr(vpcCidr);
  if (!vpc.ok) throw invalid(`vpc_cidr ${JSON.stringify(vpcCidr)} is not a valid IPv4 CIDR block: ${vpc.reason}`);
  if (vpc.cidr.prefix < 16 || vpc.cidr.prefix > 24) throw invalid(`vpc_cidr ${vpcCidr} must have a prefix length from /16 to /24`);
  const firewall = firewallOf(opts['firewall']);
  let sshFrom = str(opts, 'ssh_from');
  if (sshFrom !== undefined) {
    const ip = sshFrom.endsWith('/32') ? sshFrom.slice(0, -3) : sshFrom;
    if (parseIpv4(ip) === undefined) throw invalid(`ssh_from ${JSON.stringify(sshFrom)} must be your IPv4 address, e.g. 203.0.113.7`);
    sshFrom = ip;
  }
  const spot = str(opts, 'spot_policy') ?? 'on-demand';
  if (!(SPOT_POLICIES as readonly string[]).includes(spot)) {
    throw invalid(`spot_policy ${JSON.stringify(spot)} is not valid; valid policies: ${SPOT_POLICIES.join(', ')}`);
  }
  const gpuRaw = opts['worker_gpu'] ?? 0;
  if (gpuRaw !== 0 && gpuRaw !== 1 && gpuRaw !== false && gpuRaw !== true) {
    throw invalid(`worker_gpu ${JSON.stringify(gpuRaw)} is not supported: a worker has at most one GPU; use 0 or 1`);
  }
  const workerGpu: 0 | 1 = gpuRaw === 1 || gpuRaw === true ? 1 : 0;
  const publicIp = opts['give_workers_public_ip'] ?? false;
  if (typeof publicIp !== 'boolean') throw invalid(`give_workers_public_ip must be true or false, got ${JSON.stringify(publicIp)}`);
  const ami = str(opts, 'ami');
  if (ami !== undefined && !AMI_RE.test(ami)) throw invalid(`ami ${JSON.stringify(ami)} is not an image id; expected ami- followed by 8 or 17 hex digits`);
  const instanceProfile = str(opts, 'instance_profile');
  if (instanceProfile !== undefined && !PROFILE_RE.test(instanceProfile)) {
    throw invalid(`instance_profile ${JSON.stringify(instanceProfile)} is not an instance profile name`);
  }
  const retention = opts['log_retention_days'] ?? DEFAULT_RETENTION_DAYS;
  if (!isRetentionDays(retention)) {
    throw invalid(`log_retention_days ${JSON.stringify(retention)} is not one CloudWatch allows; valid: ${RETENTION_DAYS.join(', ')}`);
  }
  const minWorkers = minWorkersOf(opts['min_workers'], workers);
  const disk = opts['disk_size'];
  if (disk !== undefined && disk !== null && (typeof disk !== 'number' || !Number.isInteger(disk) || disk < MIN_DISK_GIB || disk > MAX_DISK_GIB)) {
    throw invalid(`disk_size ${JSON.stringify(disk)} must be a whole number of GiB from ${MIN_DISK_GIB} to ${MAX_DISK_GIB} (gp3's sizes)`);
  }
  const out: AwsOptions = {
    region,
    workspace: ws,
    vpcCidr,
    firewall,
    spotPolicy: spot as SpotPolicy,
    schedulerVmTypes: vmTypes(opts, 'scheduler_vm_types', DEFAULT_SCHEDULER_VM_TYPES),
    workerVmTypes: vmTypes(opts, 'worker_vm_types', workerGpu === 1 ? DEFAULT_GPU_WORKER_VM_TYPES : DEFAULT_WORKER_VM_TYPES),
    workerGpu,
    giveWorkersPublicIp: publicIp,
    tags: tagsOf(opts['tags']),
    logRetentionDays: retention as number,
  };
  if (zone !== undefined) out.zone = zone;
  if (minWorkers !== undefined) out.minWorkers = minWorkers;
  if (typeof disk === 'number') out.diskSizeGiB = disk;
  if (sshFrom !== undefined) out.sshFrom = sshFrom;
  if (ami !== undefined) out.ami = ami;
  if (instanceProfile !== undefined) out.instanceProfile = instanceProfile;
  const network = byoOf(opts);
  if (network !== undefined) out.network = network;
  return out;
}
