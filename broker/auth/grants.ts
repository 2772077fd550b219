// Who may use an aws-iam broker: access grants in the store (an exact ARN or a prefix ending in `*`), an
// admin flag on each. Read on every request through a short cache (a revoke on this broker applies at once,
// one made by another broker of the same table within `cacheMs`), so a user token outlives no revoke.
import { SkiffError, echo } from '../api/errors.js';
import { grantCovers, parseGrantPattern, type AccessGrantView, type Principal } from '../api/auth.js';
import type { AccessGrant, Store } from '../store/store.js';

export type GrantStore = Pick<Store, 'accessGrants' | 'putAccessGrant' | 'deleteAccessGrant'>;

export interface Grants {
  /** Whether `principalId` may use the broker, and as an admin (any covering grant that is an admin's). */
  find(principalId: string): Promise<{ admin: boolean } | undefined>;
  /** The first admin: stored when the broker has no grant at all yet. True if it was stored. */
  bootstrap(adminArn: string, at: string): Promise<boolean>;
  /** Admins only, below. */
  list(by: Principal): Promise<AccessGrantView[]>;
  grant(by: Principal, pattern: string, admin: boolean): Promise<AccessGrantView>;
  revoke(by: Principal, pattern: string): Promise<void>;
}

export interface GrantsOptions {
  store: GrantStore;
  /** The broker's AWS account: a grant names a principal of it, or it would never match a caller. */
  account: string;
  now?: () => Date;
  cacheMs?: number;
}

export function createGrants(o: GrantsOptions): Grants {
  const now = o.now ?? (() => new Date());
  const cacheMs = o.cacheMs ?? 5000;
  let cached: { at: number; grants: AccessGrant[] } | undefined;
  const all = async (): Promise<AccessGrant[]> => {
    const t = now().getTime();
    if (!cached || t - cached.at > cacheMs || t < cached.at) cached = { at: t, grants: await o.store.accessGrants() };
    return cached.grants;
  };
  const adminOnly = (by: Principal, what: string): void => {
    if (!by.admin) throw new SkiffError('BRK_FORBIDDEN', `only an admin of this broker may ${what}; ${by.id} is not one (an admin runs \`skiff access grant ${by.id} --admin\`)`);
  };
  const checkPattern = (pattern: string): void => {
    const p = parseGrantPattern(pattern);
    if ('error' in p) throw new SkiffError('BRK_BAD_REQUEST', p.error);
    if (p.account !== o.account) {
      throw new SkiffError('BRK_BAD_REQUEST', `${echo(pattern, 200)} is in account ${p.account}, and this broker serves account ${o.account} only (callers of another account are refused)`);
    }
  };
  const view = (g: AccessGrant): AccessGrantView => ({ pattern: g.pattern, admin: g.admin, grantedBy: g.grantedBy, grantedAt: g.grantedAt });
  return {
    async find(principalId) {
      const covering = (await all()).filter((g) => grantCovers(g.pattern, principalId));
      return covering.length === 0 ? undefined : { admin: covering.some((g) => g.admin) };
    },
    async bootstrap(adminArn, at) {
      checkPattern(adminArn);
      if ((await o.store.accessGrants()).length > 0) return false;
      await o.store.putAccessGrant({ pattern: adminArn, admin: true, grantedBy: 'skiff broker --admin', grantedAt: at });
      cached = undefined;
      return true;
    },
    async list(by) {
      adminOnly(by, 'list access grants');
      return (await o.store.accessGrants()).map(view).sort((a, b) => a.pattern.localeCompare(b.pattern));
    },
    async grant(by, pattern, admin) {
      adminOnly(by, 'grant access');
      checkPattern(pattern);
      const g: AccessGrant = { pattern, admin, grantedBy: by.id, grantedAt: now().toISOString() };
      await o.store.putAccessGrant(g);
      cached = undefined;
      return view(g);
    },
    async revoke(by, pattern) {
      adminOnly(by, 'revoke access');
      const grants = await o.store.accessGrants();
      const g = grants.find((x) => x.pattern === pattern);
      if (!g) throw new SkiffError('BRK_NOT_FOUND', `no access grant ${echo(pattern, 200)}; \`skiff access list\` shows them`);
      if (g.admin && !grants.some((x) => x.admin && x.pattern !== pattern)) {
        throw new SkiffError('BRK_CONFLICT', `${pattern} is the last admin grant; grant another admin first (\`skiff access grant ARN --admin\`), or nobody could manage this broker`);
      }
      await o.store.deleteAccessGrant(pattern);
      cached = undefined;
    },
  };
}
