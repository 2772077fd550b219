// Instance types as facts (vCPUs, architecture, GPUs, from DescribeInstanceTypes) and the checks a cluster's
// types must pass. Pure: the aws adapter turns the API answer into InstanceTypeFacts and calls these.
//
// One image serves a role: the scheduler tries its types in order with one image, and the workers' fleet
// launches one launch template. So all types of a role must share an architecture; the scheduler's may differ
// from the workers' (e.g. an x86_64 scheduler with Graviton workers), each role then gets its own image.

import { SkiffError } from '../../broker/api/errors.js';

export type Architecture = 'x86_64' | 'arm64';
export type Role = 'scheduler' | 'worker';

export interface InstanceTypeFacts {
  /** VCpuInfo.DefaultVCpus: what the vCPU quotas count and what a worker's Dask runs threads on. */
  vcpus: number;
  /** The one architecture skiff can boot on it (x86_64 or arm64). */
  architecture: Architecture;
  /** GPUs (GpuInfo.Gpus[].Count summed). */
  gpus: number;
  /** MemoryInfo.SizeInMiB (absent in plans made before it was read). */
  memoryMiB?: number;
}

export interface InstanceTypeAnswer {
  InstanceType?: string | undefined;
  VCpuInfo?: { DefaultVCpus?: number | undefined } | undefined;
  ProcessorInfo?: { SupportedArchitectures?: string[] | undefined } | undefined;
  GpuInfo?: { Gpus?: { Count?: number | undefined }[] | undefined } | undefined;
  MemoryInfo?: { SizeInMiB?: number | undefined } | undefined;
}

function invalid(message: string): SkiffError {
  return new SkiffError('PRV_INVALID_REQUEST', message);
}

/**
 * Facts of each wanted type from a DescribeInstanceTypes answer. Throws naming the types the region does not
 * offer and those skiff cannot boot (macOS-only types).
 */
export function instanceTypeFacts(region: string, wanted: readonly string[], answer: readonly InstanceTypeAnswer[]): Record<string, InstanceTypeFacts> {
  const byName = new Map(answer.map((t) => [t.InstanceType ?? '', t]));
  const unknown = wanted.filter((t) => !byName.has(t));
  if (unknown.length > 0) throw invalid(`instance type(s) ${unknown.join(', ')} are not offered in ${region}; check the names (e.g. m6i.large)`);
  const out: Record<string, InstanceTypeFacts> = {};
  const unbootable: string[] = [];
  for (const name of wanted) {
    const t = byName.get(name);
    const archs = t?.ProcessorInfo?.SupportedArchitectures ?? [];
    const architecture: Architecture | undefined = archs.includes('x86_64') ? 'x86_64' : archs.includes('arm64') ? 'arm64' : undefined;
    if (architecture === undefined) {
      unbootable.push(`${name} (${archs.join(', ') || 'no architecture'})`);
      continue;
    }
    const gpus = (t?.GpuInfo?.Gpus ?? []).reduce((n, g) => n + (g.Count ?? 0), 0);
    out[name] = { vcpus: t?.VCpuInfo?.DefaultVCpus ?? 0, architecture, gpus };
    const memoryMiB = t?.MemoryInfo?.SizeInMiB;
    if (typeof memoryMiB === 'number') out[name].memoryMiB = memoryMiB;
  }
  if (unbootable.length > 0) throw invalid(`instance type(s) ${unbootable.join(', ')} run no Linux image skiff supports; choose x86_64 or arm64 types`);
  return out;
}

/** The architecture shared by a role's types, or an error naming each type with its architecture. */
export function roleArchitecture(role: Role, types: readonly string[], facts: Readonly<Record<string, InstanceTypeFacts>>): Architecture {
  const archs = new Map<Architecture, string[]>();
  for (const t of types) {
    const a = facts[t]?.architecture;
    if (a === undefined) throw invalid(`no facts for instance type ${t}`);
    archs.set(a, [...(archs.get(a) ?? []), t]);
  }
  const [first, ...rest] = [...archs.keys()];
  if (first === undefined) throw invalid(`${role}_vm_types is empty`);
  if (rest.length > 0) {
    const listed = [...archs.entries()].map(([a, ts]) => `${ts.join(', ')} (${a})`).join(' and ');
    throw invalid(
      `${role}_vm_types mix architectures: ${listed}; a ${role === 'worker' ? "cluster's workers run" : 'scheduler runs'} one image, so list types of one architecture`,
    );
  }
  return first;
}

/** With worker_gpu 1, every worker type has exactly one GPU. */
export function checkWorkerGpus(types: readonly string[], facts: Readonly<Record<string, InstanceTypeFacts>>): void {
  for (const t of types) {
    const gpus = facts[t]?.gpus ?? 0;
    if (gpus !== 1) {
      throw invalid(`worker_gpu is 1 but ${t} has ${gpus} GPUs; a worker gets exactly one GPU: choose types such as g4dn.xlarge or g5.xlarge`);
    }
  }
}

/** The type with the fewest vCPUs (the first listed among equals): what a quota check counts per machine. */
export function smallestType(types: readonly string[], facts: Readonly<Record<string, InstanceTypeFacts>>): string {
  let best = types[0] ?? '';
  for (const t of types) if ((facts[t]?.vcpus ?? Infinity) < (facts[best]?.vcpus ?? Infinity)) best = t;
  return best;
}
