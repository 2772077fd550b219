// Reading a cluster's instances and terminating them. Every list is paginated with a bounded page count.

import type { Filter, Instance } from '@aws-sdk/client-ec2';
import type { Machine } from '../backend.js';
import type { InstanceTypeFacts } from '../plan/instance-types.js';
import { CLUSTER_TAG, ROLE_TAG } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import { fromAwsTags, waitUntil, type AwsContext } from './context.js';

export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
const PAGE_SIZE = 1000;
const MAX_PAGES = 20;
/** EC2 takes at most 200 values per filter. */
const FILTER_VALUES = 200;

export async function listInstances(ctx: AwsContext, filters: Filter[]): Promise<Instance[]> {
  const out: Instance[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await ctx.port.describeInstances({ Filters: filters, MaxResults: PAGE_SIZE, ...(token ? { NextToken: token } : {}) });
    for (const r of res.Reservations ?? []) out.push(...(r.Instances ?? []));
    token = res.NextToken;
    if (!token) break;
  }
  return out;
}

export function clusterFilter(clusterId: string, states = LIVE_STATES): Filter[] {
  return [
    { Name: `tag:${CLUSTER_TAG}`, Values: [clusterId] },
    { Name: 'instance-state-name', Values: states },
  ];
}

/**
 * Machines in launch order: the scheduler, then worker-1..n by launch time and id. `types` (the plan's facts)
 * gives each its vCPUs; without them the instance's CPU options are used when present.
 */
export function toMachines(instances: Instance[], types: Readonly<Record<string, InstanceTypeFacts>> = {}): Machine[] {
  const byLaunch = [...instances].sort((a, b) => {
    const t = (a.LaunchTime?.getTime() ?? 0) - (b.LaunchTime?.getTime() ?? 0);
    return t !== 0 ? t : (a.InstanceId ?? '').localeCompare(b.InstanceId ?? '');
  });
  const machines: Machine[] = [];
  let n = 0;
  for (const i of byLaunch) {
    const role = fromAwsTags(i.Tags)[ROLE_TAG] === 'scheduler' ? 'scheduler' : 'worker';
    const state = i.State?.Name === 'running' ? 'running' : i.State?.Name === 'pending' ? 'starting' : 'stopped';
    const m: Machine = { id: i.InstanceId ?? '', role, name: role === 'scheduler' ? 'scheduler' : `worker-${++n}`, state };
    if (i.PrivateIpAddress) m.privateHost = i.PrivateIpAddress;
    if (i.PublicIpAddress) m.publicHost = i.PublicIpAddress;
    if (i.InstanceType) {
      m.instanceType = i.InstanceType;
      const cpu = i.CpuOptions;
      const vcpus = types[i.InstanceType]?.vcpus ?? (cpu?.CoreCount && cpu.ThreadsPerCore ? cpu.CoreCount * cpu.ThreadsPerCore : undefined);
      if (vcpus) m.vcpus = vcpus;
    }
    machines.push(m);
  }
  return machines.sort((a, b) => (a.role === b.role ? 0 : a.role === 'scheduler' ? -1 : 1));
}

/** The instances with these ids as DescribeInstances has them now (ids it does not know yet are left out). */
export async function describeByIds(ctx: AwsContext, ids: readonly string[]): Promise<Instance[]> {
  const out: Instance[] = [];
  for (let i = 0; i < ids.length; i += FILTER_VALUES) {
    try {
      out.push(...(await listInstances(ctx, [{ Name: 'instance-id', Values: ids.slice(i, i + FILTER_VALUES) }])));
    } catch (err) {
      if (!awsErrorCode(err)?.startsWith('InvalidInstanceID')) throw err;
    }
  }
  return out;
}

/**
 * Polls DescribeInstances by id until the instance has its private and (when `needPublic`) public IPv4 address:
 * right after a launch DescribeInstances is eventually consistent and may not know the instance or its addresses
 * yet. Bounded by ctx.waitTimeoutMs.
 */
export async function waitForAddresses(ctx: AwsContext, id: string, needPublic: boolean): Promise<Instance> {
  return waitUntil(ctx, `the addresses of instance ${id}`, async () => {
    const [inst] = await describeByIds(ctx, [id]);
    return inst?.PrivateIpAddress && (!needPublic || inst.PublicIpAddress) ? inst : undefined;
  });
}

/** Terminates the instances and waits until none of them is live. */
export async function terminateAndWait(ctx: AwsContext, ids: string[], filters: Filter[]): Promise<void> {
  if (ids.length === 0) return;
  for (let i = 0; i < ids.length; i += PAGE_SIZE) {
    await ctx.port.terminateInstances({ InstanceIds: ids.slice(i, i + PAGE_SIZE) });
  }
  ctx.progress(`terminating ${ids.length} instance(s)`);
  await waitUntil(ctx, `${ids.length} instance(s) to terminate`, async () => {
    const live = await listInstances(ctx, [...filters.filter((f) => f.Name !== 'instance-state-name'), { Name: 'instance-state-name', Values: LIVE_STATES }]);
    return live.length === 0 ? true : undefined;
  });
}
