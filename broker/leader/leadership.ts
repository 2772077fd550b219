// One broker leads: the one holding the `leader` lease in the store (a conditional write: free, expired or its
// own). Only the leader runs what decides on its own — the watchdog's stops and alerts, adaptive scaling and the
// replacement of lost workers, recovery after a restart — so two brokers (an old one not yet gone during an
// upgrade, or two started by mistake) never both stop a cluster or both replace a worker. Every other broker
// serves the API and its agents' connections, and passes what its agents report to the leader through the
// store (watch-state.ts).
//
// The lease is renewed every ttl/3. A leader counts itself leader only until its last renewal's expiry minus
// one renewal interval (by its own clock), so it stops acting before any other broker can take the lease, also
// when the store is unreachable; a broker that is killed is replaced within the lease time.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';

export const LEADER_LEASE = 'leader';
export const DEFAULT_LEASE_TTL_MS = 15_000;

export interface Leadership {
  /** This broker's name in the lease (random per process). */
  readonly holder: string;
  isLeader(): boolean;
  /** Takes part: tries for the lease at once, then every ttl/3. */
  start(): void;
  /** Stops taking part and gives the lease up if held (a clean shutdown: the next broker leads at once). */
  stop(): Promise<void>;
  /** One round (the timer calls it; tests may too). */
  tick(): Promise<void>;
}

export interface LeadershipOptions {
  store: Pick<Store, 'takeLease' | 'releaseLease'>;
  log: Logger;
  ttlMs?: number;
  holder?: string;
  now?: () => number;
  /** Called when this broker becomes leader (true) or stops being it (false). */
  onChange?: (leading: boolean) => void;
}

export function createLeadership(o: LeadershipOptions): Leadership {
  const ttlMs = o.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const renewMs = Math.max(1, Math.floor(ttlMs / 3));
  const now = o.now ?? Date.now;
  const holder = o.holder ?? `broker-${process.pid}-${randomBytes(4).toString('hex')}`;
  let actUntil = 0; // leader while now() < actUntil
  let leading = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const set = (next: boolean): void => {
    if (next === leading) return;
    leading = next;
    o.log.info({ holder }, next ? 'this broker leads' : 'this broker no longer leads');
    try {
      o.onChange?.(next);
    } catch (err) {
      o.log.error({ err }, 'leadership listener threw');
    }
  };
  const isLeader = (): boolean => {
    const yes = leading && now() < actUntil;
    if (leading && !yes) set(false);
    return yes;
  };
  const round = async (): Promise<void> => {
    const at = now();
    try {
      const lease = await o.store.takeLease(LEADER_LEASE, holder, ttlMs, at);
      if (lease.holder === holder) {
        actUntil = lease.expiresAtMs - renewMs;
        set(true);
      } else {
        actUntil = 0;
        set(false);
      }
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'the leader lease could not be renewed; retrying');
    }
    isLeader(); // a lease that ran out while the store was away ends leadership now
  };
  const tick = (): Promise<void> => {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    holder,
    isLeader,
    start() {
      if (timer) return;
      void tick();
      timer = setInterval(() => void tick(), renewMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
      const was = leading;
      actUntil = 0;
      set(false);
      if (was) await o.store.releaseLease(LEADER_LEASE, holder).catch((err: unknown) => o.log.warn({ err: (err as Error).message }, 'releasing the leader lease failed; it ends by itself'));
    },
    tick,
  };
}
