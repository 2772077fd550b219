// The aws options of `skiff up`, turned into the backend's options (validated by its plan, not here).
import { SkiffError } from '../api/errors.js';
import type { FlagSpec } from './args.js';

// `skiff up --backend aws` options, each mapped to the backend option of the same meaning (snake_case).
export const AWS_FLAGS: Record<string, FlagSpec> = {
  region: { kind: 'string', help: 'aws: region (default us-east-1)' },
  zone: { kind: 'string', help: 'aws: availability zone (default: the region\'s first)' },
  'spot-policy': { kind: 'string', help: 'aws: on-demand, spot or spot_with_fallback' },
  'scheduler-vm-types': { kind: 'string', help: 'aws: instance types for the scheduler, in order (comma-separated)' },
  'worker-vm-types': { kind: 'string', help: 'aws: instance types for workers, in order (comma-separated)' },
  'worker-gpu': { kind: 'int', help: 'aws: GPUs per worker (0 or 1)' },
  'firewall-cidr': { kind: 'string', help: 'aws: who may reach port 443 (default 0.0.0.0/0)' },
  'ssh-from': { kind: 'string', help: 'aws: your IP for port 22 (no SSH rule without it)' },
  'give-workers-public-ip': { kind: 'boolean', help: 'aws: workers get public IPs (default: private only)' },
  'network-id': { kind: 'string', help: 'aws: bring your own VPC (vpc-...)' },
  'scheduler-subnet-id': { kind: 'string', help: 'aws: your subnet for the scheduler' },
  'worker-subnet-id': { kind: 'string', help: 'aws: your subnet for workers' },
  'scheduler-firewall-id': { kind: 'string', help: 'aws: your security group for the scheduler' },
  'firewall-id': { kind: 'string', help: 'aws: your security group for the cluster' },
  ami: { kind: 'string', help: 'aws: machine image (default: the newest Debian 12 of the region for the types\' architecture; GPU: the Deep Learning Base GPU AMI, Ubuntu 24.04)' },
  'disk-size': { kind: 'int', help: 'aws: workers\' root volume in GiB, gp3, deleted with the machine (default: 16 + twice the worker type\'s memory, e.g. 50 for m6i.xlarge; never below the image\'s own)' },
  'min-workers': { kind: 'int', help: 'aws: run with fewer workers when capacity is short, down to this many (default: all of --workers)' },
  options: { kind: 'string', help: 'aws: further backend options as JSON, e.g. {"tags":{"team":"x"}}' },
};

export function awsOptions(flags: Record<string, unknown>, backend: string): Record<string, unknown> | undefined {
  const given = Object.keys(AWS_FLAGS).filter((k) => flags[k] !== undefined);
  if (given.length === 0) return undefined;
  if (backend !== 'aws') throw new SkiffError('CLI_USAGE', `--${given[0]} applies to --backend aws only`);
  let options: Record<string, unknown> = {};
  if (typeof flags['options'] === 'string') {
    try {
      options = JSON.parse(flags['options']) as Record<string, unknown>;
    } catch {
      throw new SkiffError('CLI_USAGE', '--options must be a JSON object, e.g. {"tags":{"team":"data"}}');
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new SkiffError('CLI_USAGE', '--options must be a JSON object');
  }
  const list = (v: unknown) => String(v).split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of given) {
    if (k === 'options') continue;
    const v = flags[k];
    if (k === 'firewall-cidr') options['firewall'] = { ...(options['firewall'] as object | undefined), cidr: v };
    else if (k.endsWith('vm-types')) options[k.replaceAll('-', '_')] = list(v);
    else options[k.replaceAll('-', '_')] = v;
  }
  return options;
}
