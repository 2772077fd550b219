// What the watchdog's rules need of a cluster, shared through the store when more than one broker serves a
// workspace: each broker writes what its agents report (coarsely: when the cluster turns busy or idle, gains or
// loses its last client, and otherwise at most every `everyMs`), and the leader folds every broker's into its
// own view before it decides (leadership.ts). Only ever forward in time: a stale write never makes a cluster
// look idle for longer, or busy again.
import type { Logger } from 'pino';
import type { TelemetrySummary } from '../api/telemetry.js';
import type { Store, WatchState } from '../store/store.js';
import type { ClusterActivity } from './activity.js';

export const WATCH_WRITE_EVERY_MS = 30_000;

const isBusy = (s: TelemetrySummary): boolean => s.dask.tasksProcessing + s.dask.tasksQueued + s.dask.tasksNoWorker > 0;

export interface WatchWriter {
  report(clusterId: string, summary: TelemetrySummary): void;
  forget(clusterId: string): void;
}

export function createWatchWriter(o: { store: Pick<Store, 'putWatch'>; log: Logger; now?: () => number; everyMs?: number }): WatchWriter {
  const now = o.now ?? Date.now;
  const everyMs = o.everyMs ?? WATCH_WRITE_EVERY_MS;
  const last = new Map<string, { writtenAtMs: number; state: WatchState }>();
  return {
    report(clusterId, s) {
      const t = now();
      const iso = new Date(t).toISOString();
      const prev = last.get(clusterId);
      const busy = isBusy(s);
      const state: WatchState = {
        clusterId,
        heartbeatAt: iso,
        activeAt: busy ? iso : (prev?.state.activeAt ?? iso),
        busy,
        clients: s.dask.clients,
        ...(s.dask.clients > 0 ? {} : { noClientSince: prev?.state.noClientSince ?? iso }),
      };
      const changed = !prev || prev.state.busy !== busy || (prev.state.clients > 0) !== (state.clients > 0);
      if (!changed && t - prev.writtenAtMs < everyMs) {
        prev.state = { ...state, heartbeatAt: prev.state.heartbeatAt };
        return;
      }
      last.set(clusterId, { writtenAtMs: t, state });
      o.store.putWatch(state).catch((err: unknown) => o.log.warn({ clusterId, err: (err as Error).message }, 'sharing the watchdog state failed; the next report retries'));
    },
    forget: (clusterId) => void last.delete(clusterId),
  };
}

/**
 * Folds a shared watch state into a cluster's activity, forward in time only — or, with `adopt` (nothing seen
 * of the cluster yet: a broker that has just become leader), as it is, so its idle time carries over.
 */
export function mergeWatchState(a: ClusterActivity, w: WatchState, adopt = false): void {
  const heartbeat = Date.parse(w.heartbeatAt);
  const active = Date.parse(w.activeAt);
  if (adopt && Number.isFinite(heartbeat) && Number.isFinite(active)) {
    a.lastHeartbeatMs = heartbeat;
    a.lastActiveMs = active;
    a.clients = w.clients;
    a.noClientSinceMs = w.clients > 0 ? undefined : w.noClientSince ? Date.parse(w.noClientSince) : heartbeat;
    return;
  }
  if (Number.isFinite(active) && active > a.lastActiveMs) a.lastActiveMs = active;
  if (!Number.isFinite(heartbeat) || heartbeat <= a.lastHeartbeatMs) return;
  a.lastHeartbeatMs = heartbeat;
  a.clients = w.clients;
  if (w.clients > 0) a.noClientSinceMs = undefined;
  else {
    const since = w.noClientSince ? Date.parse(w.noClientSince) : heartbeat;
    // A cluster that had a client in this broker's view is without one since the shared state says, not before.
    a.noClientSinceMs = a.noClientSinceMs === undefined ? since : Math.max(a.noClientSinceMs, Math.min(since, heartbeat));
  }
}
