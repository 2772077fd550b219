// Who may act on which cluster, decided here and nowhere else: a cluster's owner (the principal that made it)
// and the broker's admins may list it, read its status, logs and notifications, get its credentials and
// dashboard tokens, scale, adapt and stop it. Anyone else is told it does not exist, in the very words used
// for a cluster that does not (clusters/not-found.ts). Records older than owners belong to `local`, the
// API-key broker's one principal, so the local broker behaves as before.
// The API handler resolves every cluster reference through `resolve` and hands the service the id it gives.
import { LOCAL_PRINCIPAL, type Principal } from '../api/auth.js';
import { SkiffError } from '../api/errors.js';
import type { ClusterView, NotificationView } from '../api/wire.js';
import type { ClusterService } from '../clusters/types.js';
import { clusterNotFound } from '../clusters/not-found.js';

type Readers = Pick<ClusterService, 'list' | 'notifications'>;

export interface ClusterAccess {
  /** The id of the cluster `ref` (an id, or the newest of that name) names among those `p` may act on. */
  resolve(p: Principal, ref: string): Promise<string>;
  /** `p`'s own clusters; every cluster with `all` (admins only). */
  list(p: Principal, all: boolean): Promise<ClusterView[]>;
  /** Notifications of one cluster `p` may see, or of `p`'s own clusters (every cluster's with `all`). */
  notifications(p: Principal, ref: string | undefined, afterSeq: number, all: boolean): Promise<NotificationView[]>;
}

export const ownerOf = (c: { owner?: string }): string => c.owner ?? LOCAL_PRINCIPAL.id;
const mayAct = (p: Principal, c: { owner?: string }): boolean => p.admin || ownerOf(c) === p.id;

export function createClusterAccess(clusters: Readers): ClusterAccess {
  // Promise.resolve: the service's readers turn async with the store; either way this works.
  const every = async (): Promise<ClusterView[]> => Promise.resolve(clusters.list());
  const scope = async (p: Principal, all: boolean): Promise<ClusterView[]> => {
    if (all && !p.admin) throw new SkiffError('BRK_FORBIDDEN', `only an admin of this broker lists every cluster (--all); ${p.id} is not one. \`skiff list\` shows your own`);
    return (await every()).filter((c) => (all ? true : ownerOf(c) === p.id));
  };
  const resolve = async (p: Principal, ref: string): Promise<string> => {
    const mine = (await every()).filter((c) => mayAct(p, c));
    const c = mine.find((x) => x.id === ref) ?? mine.filter((x) => x.name === ref).sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1);
    if (!c) throw clusterNotFound(ref);
    return c.id;
  };
  return {
    resolve,
    list: scope,
    async notifications(p, ref, afterSeq, all) {
      if (ref !== undefined) return Promise.resolve(clusters.notifications(await resolve(p, ref), afterSeq));
      const ids = new Set((await scope(p, all)).map((c) => c.id));
      return (await Promise.resolve(clusters.notifications(undefined, afterSeq))).filter((n) => ids.has(n.clusterId));
    },
  };
}
