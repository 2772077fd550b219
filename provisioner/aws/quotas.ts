// Reading EC2's vCPU quotas (Service Quotas GetServiceQuota, service code ec2) and the region's vCPUs in use,
// for plan() and setup. Read-only. A quota that cannot be read (the account or region does not have it, the
// credentials may not read it) is reported and left unchecked: the launch itself still meets EC2's limit.

import { quotaClassOf, quotaOf, VCPU_QUOTAS } from '../plan/quotas.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';
import { listInstances } from './instances.js';

/** Errors that mean "this quota cannot be read here", not "something is broken". */
const UNREADABLE = new Set([
  'NoSuchResourceException',
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'IllegalArgumentException',
  'UnsupportedOperation',
  'ServiceQuotaTemplateNotInUseException',
]);

export interface QuotaReading {
  /** Quota values in vCPUs by code, for those read. */
  limits: Record<string, number>;
  unreadable: { code: string; name: string; reason: string }[];
}

export async function readVcpuQuotas(ctx: AwsContext, codes: readonly string[]): Promise<QuotaReading> {
  const limits: Record<string, number> = {};
  const unreadable: QuotaReading['unreadable'] = [];
  for (const code of codes) {
    const name = VCPU_QUOTAS.find((q) => q.code === code)?.name ?? code;
    try {
      const out = await ctx.port.getServiceQuota({ ServiceCode: 'ec2', QuotaCode: code });
      const value = out.Quota?.Value;
      if (typeof value === 'number' && Number.isFinite(value)) limits[code] = value;
      else unreadable.push({ code, name, reason: 'no value in the answer' });
    } catch (err) {
      const reason = awsErrorCode(err) ?? '';
      if (!UNREADABLE.has(reason)) throw err;
      unreadable.push({ code, name, reason });
      ctx.log.warn({ quotaCode: code, reason }, 'vCPU quota could not be read; not checked');
    }
  }
  return { limits, unreadable };
}

const TYPES_PER_CALL = 100;

/**
 * vCPUs of the region's pending and running instances (anyone's, not only skiff's) in each of `codes`, counted
 * as the quotas count them: the type's default vCPUs, on-demand vs spot by InstanceLifecycle.
 */
export async function vcpuUsage(ctx: AwsContext, codes: readonly string[], knownVcpus: Readonly<Record<string, number>>): Promise<Record<string, number>> {
  const usage: Record<string, number> = Object.fromEntries(codes.map((c) => [c, 0]));
  if (codes.length === 0) return usage;
  const instances = await listInstances(ctx, [{ Name: 'instance-state-name', Values: ['pending', 'running'] }]);
  const vcpus = new Map(Object.entries(knownVcpus));
  const missing = [...new Set(instances.map((i) => i.InstanceType ?? '').filter((t) => t && !vcpus.has(t)))];
  for (let i = 0; i < missing.length; i += TYPES_PER_CALL) {
    const out = await ctx.port.describeInstanceTypes({ InstanceTypes: missing.slice(i, i + TYPES_PER_CALL) as never });
    for (const t of out.InstanceTypes ?? []) if (t.InstanceType) vcpus.set(t.InstanceType, t.VCpuInfo?.DefaultVCpus ?? 0);
  }
  for (const i of instances) {
    const type = i.InstanceType ?? '';
    const cls = quotaClassOf(type);
    if (!cls) continue;
    const code = quotaOf(cls, i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand').code;
    if (code in usage) usage[code] = (usage[code] ?? 0) + (vcpus.get(type) ?? 0);
  }
  return usage;
}
