// EC2's vCPU quotas (Service Quotas, service code ec2) and whether a cluster request fits in what is left. Pure:
// the aws adapter reads the quota values and the region's usage and hands them here.
//
// EC2 limits running vCPUs per family class and purchase option, not instances. A request draws on:
//
//   scheduler      on-demand quota of its type's class          (RunInstances, always on-demand)
//   workers        quota(s) of their types' classes for each purchase option the spot policy may use
//                  (on-demand | spot | spot then on-demand)
//
// Usage is the vCPUs of the region's pending and running instances in each quota (on-demand vs spot by
// InstanceLifecycle). The request counts the scheduler's smallest type plus workers × the smallest worker type
// of a class: the least the request can need, so a refusal is certain, never a guess. It is refused only
// when not even min_workers fit; between min_workers and workers it warns (EC2 will give what fits).

export type QuotaClass = 'standard' | 'gvt' | 'p';
export type Lifecycle = 'on-demand' | 'spot';

export interface VcpuQuota {
  code: string;
  /** The quota's name in Service Quotas. */
  name: string;
  /** Short name for messages. */
  short: string;
  cls: QuotaClass;
  lifecycle: Lifecycle;
}

// Codes and names as Service Quotas lists them for service ec2.
export const VCPU_QUOTAS: readonly VcpuQuota[] = [
  { code: 'L-1216C47A', name: 'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances', short: 'Running On-Demand Standard instances', cls: 'standard', lifecycle: 'on-demand' },
  { code: 'L-34B43A08', name: 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests', short: 'All Standard Spot Instance Requests', cls: 'standard', lifecycle: 'spot' },
  { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances', short: 'Running On-Demand G and VT instances', cls: 'gvt', lifecycle: 'on-demand' },
  { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests', short: 'All G and VT Spot Instance Requests', cls: 'gvt', lifecycle: 'spot' },
  { code: 'L-417A185B', name: 'Running On-Demand P instances', short: 'Running On-Demand P instances', cls: 'p', lifecycle: 'on-demand' },
  { code: 'L-7212CCBC', name: 'All P Spot Instance Requests', short: 'All P Spot Instance Requests', cls: 'p', lifecycle: 'spot' },
];

const CLASS_OF_FAMILY: Record<string, QuotaClass> = {
  a: 'standard', c: 'standard', d: 'standard', h: 'standard', i: 'standard', im: 'standard', is: 'standard',
  m: 'standard', r: 'standard', t: 'standard', z: 'standard',
  g: 'gvt', gr: 'gvt', vt: 'gvt',
  p: 'p',
};

/** The family letters of an instance type: m6i.xlarge → m, g4dn.xlarge → g, vt1.3xlarge → vt, hpc7g.4xlarge → hpc. */
export function familyOf(instanceType: string): string {
  return /^[a-z]+/.exec(instanceType)?.[0] ?? '';
}

/** The quota class an instance type counts against, or undefined for classes skiff does not check (X, F, Inf, ...). */
export function quotaClassOf(instanceType: string): QuotaClass | undefined {
  return CLASS_OF_FAMILY[familyOf(instanceType)];
}

export function quotaOf(cls: QuotaClass, lifecycle: Lifecycle): VcpuQuota {
  const q = VCPU_QUOTAS.find((x) => x.cls === cls && x.lifecycle === lifecycle);
  if (!q) throw new Error(`no vCPU quota for ${cls}/${lifecycle}`);
  return q;
}

export function lifecyclesOf(spotPolicy: 'on-demand' | 'spot' | 'spot_with_fallback'): Lifecycle[] {
  switch (spotPolicy) {
    case 'on-demand':
      return ['on-demand'];
    case 'spot':
      return ['spot'];
    case 'spot_with_fallback':
      return ['spot', 'on-demand'];
  }
}

export interface MachineDemand {
  type: string;
  vcpus: number;
}

export interface VcpuRequest {
  /** The scheduler's smallest type; absent when no scheduler is launched. */
  scheduler?: MachineDemand;
  workers: { count: number; minCount: number; types: MachineDemand[]; lifecycles: Lifecycle[] };
}

/** The quota codes a request draws on, in VCPU_QUOTAS order (what the adapter needs to read). */
export function quotasDrawnOn(req: VcpuRequest): string[] {
  const codes = new Set<string>();
  const sc = req.scheduler ? quotaClassOf(req.scheduler.type) : undefined;
  if (sc) codes.add(quotaOf(sc, 'on-demand').code);
  if (req.workers.count > 0) {
    for (const t of req.workers.types) {
      const c = quotaClassOf(t.type);
      if (c) for (const l of req.workers.lifecycles) codes.add(quotaOf(c, l).code);
    }
  }
  return VCPU_QUOTAS.map((q) => q.code).filter((c) => codes.has(c));
}

export interface QuotaCheck {
  code: string;
  name: string;
  /** The quota's value; what is in use; the least this request needs from it if everything went there. */
  limitVcpus: number;
  usedVcpus: number;
  requestVcpus: number;
}

export type QuotaVerdict = { ok: true; checks: QuotaCheck[]; warnings: string[] } | { ok: false; checks: QuotaCheck[]; message: string };

/**
 * Does the request fit? `limits` holds the quotas that could be read (a missing code is not checked), `usage`
 * the vCPUs in use per code (missing = 0).
 */
export function checkVcpuQuotas(region: string, req: VcpuRequest, limits: Readonly<Record<string, number>>, usage: Readonly<Record<string, number>>): QuotaVerdict {
  const free = (code: string): number => (code in limits ? (limits[code] ?? 0) - (usage[code] ?? 0) : Infinity);
  const left = new Map<string, number>();
  const freeLeft = (code: string): number => left.get(code) ?? free(code);
  const needs = new Map<string, number>();
  const addNeed = (code: string, v: number) => needs.set(code, (needs.get(code) ?? 0) + v);

  let schedulerFits = true;
  if (req.scheduler) {
    const sc = quotaClassOf(req.scheduler.type);
    if (sc) {
      const code = quotaOf(sc, 'on-demand').code;
      addNeed(code, req.scheduler.vcpus);
      schedulerFits = freeLeft(code) >= req.scheduler.vcpus;
      left.set(code, freeLeft(code) - req.scheduler.vcpus);
    }
  }

  // The least vCPUs one worker needs in each class, and how many workers the quotas left can hold.
  const w = req.workers;
  const minByClass = new Map<QuotaClass, number>();
  let unchecked = false;
  for (const t of w.types) {
    const c = quotaClassOf(t.type);
    if (!c) unchecked = true;
    else minByClass.set(c, Math.min(minByClass.get(c) ?? Infinity, Math.max(1, t.vcpus)));
  }
  let capacity = unchecked ? Infinity : 0;
  for (const [c, minV] of minByClass) {
    for (const l of w.lifecycles) {
      const code = quotaOf(c, l).code;
      addNeed(code, w.count * minV);
      capacity += Math.floor(Math.max(0, freeLeft(code)) / minV);
    }
  }
  if (w.count === 0) capacity = Infinity;

  const checks: QuotaCheck[] = VCPU_QUOTAS.filter((q) => needs.has(q.code) && q.code in limits).map((q) => ({
    code: q.code,
    name: q.name,
    limitVcpus: limits[q.code] ?? 0,
    usedVcpus: usage[q.code] ?? 0,
    requestVcpus: needs.get(q.code) ?? 0,
  }));

  if (schedulerFits && capacity >= w.minCount) {
    const warnings = capacity < w.count
      ? [`the vCPU quotas in ${region} leave room for only ${capacity} of ${w.count} workers; the cluster starts with what EC2 gives (at least min_workers ${w.minCount})`]
      : [];
    return { ok: true, checks, warnings };
  }

  // The least the request needs: the scheduler and min_workers of the smallest worker type.
  const smallest = Math.min(...minByClass.values());
  const schedulerVcpus = req.scheduler && quotaClassOf(req.scheduler.type) ? req.scheduler.vcpus : 0;
  const needed = schedulerVcpus + (Number.isFinite(smallest) ? w.minCount * smallest : 0);
  const involved = VCPU_QUOTAS.filter((q) => needs.has(q.code) && q.code in limits);
  const forWhat = w.minCount < w.count ? ` (the scheduler and min_workers ${w.minCount})` : '';
  const codes = involved.map((q) => q.code).join(', ');
  const [only] = involved;
  const what =
    involved.length === 1 && only
      ? `${only.short}${forWhat} in ${region}; quota ${limits[only.code] ?? 0}, ${usage[only.code] ?? 0} in use`
      : `${involved.map((q) => q.short).join(' or ')}${forWhat} in ${region}; quotas: ${involved.map((q) => `${q.short} ${limits[q.code] ?? 0} (${usage[q.code] ?? 0} in use)`).join(', ')}`;
  const message = `the request needs ${needed} vCPUs of ${what}; ask AWS for more in Service Quotas (${codes}) or use fewer/smaller workers`;
  return { ok: false, checks, message };
}
