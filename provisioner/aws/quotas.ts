// Reading EC2's vCPU quotas (Service Quotas GetServiceQuota, service code ec2) and the region's vCPUs in use,
// for plan() and setup. Read-only. A quota whose applied value cannot be read is checked against AWS's default
// value; one of which neither can be read (the credentials may not read it) is reported and left unchecked: the
// launch itself still meets EC2's limit.

import { SkiffError } from '../../broker/api/errors.js';
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
  /** Codes whose value is AWS's default (GetAWSDefaultServiceQuota): the account's applied value could not be read. */
  defaults: string[];
  unreadable: { code: string; name: string; reason: string }[];
}

const valueOf = (out: { Quota?: { Value?: number | undefined } | undefined }): number | undefined => {
  const v = out.Quota?.Value;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

/**
 * Each quota's applied value (GetServiceQuota), else AWS's default (GetAWSDefaultServiceQuota). AWS documents that
 * "for some quotas, only the default values are available. If the applied quota value is not available for a
 * quota, the quota is not retrieved" (GetServiceQuota answers NoSuchResourceException), and that the default
 * "does not reflect any quota increases"
 * (https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html,
 * .../API_GetAWSDefaultServiceQuota.html). The default is the best figure there is then (an account's applied
 * value may differ either way, so the warning says which was checked; the launch itself still meets EC2's limit).
 */
export async function readVcpuQuotas(ctx: AwsContext, codes: readonly string[]): Promise<QuotaReading> {
  const limits: Record<string, number> = {};
  const defaults: string[] = [];
  const unreadable: QuotaReading['unreadable'] = [];
  for (const code of codes) {
    const name = VCPU_QUOTAS.find((q) => q.code === code)?.name ?? code;
    let reason: string;
    try {
      const value = valueOf(await ctx.port.getServiceQuota({ ServiceCode: 'ec2', QuotaCode: code }));
      if (value !== undefined) {
        limits[code] = value;
        continue;
      }
      reason = 'no value in the answer';
    } catch (err) {
      reason = awsErrorCode(err) ?? '';
      if (!UNREADABLE.has(reason)) throw err;
    }
    try {
      const value = valueOf(await ctx.port.getAWSDefaultServiceQuota({ ServiceCode: 'ec2', QuotaCode: code }));
      if (value !== undefined) {
        limits[code] = value;
        defaults.push(code);
        ctx.log.warn({ quotaCode: code, reason }, 'applied vCPU quota could not be read; checking against AWS\'s default');
        continue;
      }
    } catch (err) {
      // A passing fault (throttling, an outage) fails the plan as GetServiceQuota's would, to be tried again;
      // any other answer (not allowed, not offered, an endpoint that does not speak it) leaves the quota unchecked.
      if (err instanceof SkiffError && err.retryable) throw err;
      reason = `${reason}; default: ${awsErrorCode(err) ?? 'error'}`;
    }
    unreadable.push({ code, name, reason });
    ctx.log.warn({ quotaCode: code, reason }, 'vCPU quota could not be read; not checked');
  }
  return { limits, defaults, unreadable };
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
