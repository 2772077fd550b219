// Reading a cluster's instances and terminating them. Every list is paginated with a bounded page count.

import type { Filter, Instance } from '@aws-sdk/client-ec2';
import type { Machine } from '../backend.js';
import { CLUSTER_TAG, ROLE_TAG } from '../plan/tags.js';
import { fromAwsTags, waitUntil, type AwsContext } from './context.js';

export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];
const PAGE_SIZE = 1000;
const MAX_PAGES = 20;

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

/** Machines in launch order: the scheduler, then worker-1..n by launch time and id. */
export function toMachines(instances: Instance[]): Machine[] {
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
    machines.push(m);
  }
  return machines.sort((a, b) => (a.role === b.role ? 0 : a.role === 'scheduler' ? -1 : 1));
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
