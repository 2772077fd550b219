// The broker's watchdog: one timer for all clusters. Each check walks every tracked cluster once and applies
// the pure rules (O(n), no per-cluster timers, no allocation for a cluster with nothing to do). A stop is
// reported once; the cluster is then ignored until untracked (the broker untracks it when it stops).

import type { Logger } from 'pino';
import type { TelemetrySummary } from '../api/telemetry.js';
import { newActivity, recordSummary, type ClusterActivity } from './activity.js';
import { resolveWatchdogConfig, type WatchdogConfig } from './config.js';
import { decide, type StopRule } from './rules.js';
import type { WatchState } from '../store/store.js';
import { mergeWatchState } from './watch-state.js';

export interface WatchdogDeps {
  /** Default 5 s: a stop is decided at most this long after a limit is crossed. */
  checkIntervalMs?: number;
  now?: () => number;
  /** Returns a handle; unref() is called on it when it has one. */
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
  onStop: (clusterId: string, reason: string, rule: StopRule) => void;
  onAlert: (clusterId: string, reason: string) => void;
  /** Decide only while this is true (the broker leads); default always. */
  active?: () => boolean;
  log: Logger;
}

export interface Watchdog {
  /** Starts watching (or re-watching with new settings) a running cluster; its clocks start now. */
  track(clusterId: string, config?: Partial<WatchdogConfig>): void;
  /** A summary arrived for the cluster. Returns false for a cluster that is not tracked. */
  observe(clusterId: string, summary: TelemetrySummary): boolean;
  /** Folds another broker's view of the cluster in (see watch-state.ts). Returns false for one not tracked. */
  merge(clusterId: string, w: WatchState): boolean;
  untrack(clusterId: string): void;
  /** The clusters watched. */
  tracked(): string[];
  /** One pass over every cluster (the timer calls it; tests and benchmarks may too). */
  check(): void;
  start(): void;
  stop(): void;
  size(): number;
}

interface Entry {
  config: Readonly<WatchdogConfig>;
  activity: ClusterActivity;
  stopped: boolean;
  /** Nothing observed or merged since track(): a shared state is then taken as it is (a new leader's view). */
  fresh: boolean;
}

export function createWatchdog(d: WatchdogDeps): Watchdog {
  const now = d.now ?? Date.now;
  const every = d.checkIntervalMs ?? 5000;
  const setEvery = d.setInterval ?? ((fn, ms) => setInterval(fn, ms));
  const clearEvery = d.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout));
  const clusters = new Map<string, Entry>();
  let timer: unknown;

  const check = (): void => {
    if (d.active && !d.active()) return;
    const t = now();
    for (const [clusterId, e] of clusters) {
      if (e.stopped) continue;
      for (const decision of decide(e.activity, e.config, t)) {
        if (decision.kind === 'stop') {
          e.stopped = true;
          d.log.info({ clusterId, rule: decision.rule, reason: decision.reason }, 'watchdog stops cluster');
          safely(() => d.onStop(clusterId, decision.reason, decision.rule), clusterId);
        } else {
          e.activity.lastGpuAlertMs = t;
          d.log.info({ clusterId, rule: decision.rule, reason: decision.reason }, 'watchdog alert');
          safely(() => d.onAlert(clusterId, decision.reason), clusterId);
        }
      }
    }
  };
  const safely = (fn: () => void, clusterId: string): void => {
    try {
      fn();
    } catch (err) {
      d.log.error({ clusterId, err }, 'watchdog callback failed');
    }
  };

  return {
    track(clusterId, config) {
      const c = resolveWatchdogConfig(config);
      clusters.set(clusterId, { config: c, activity: newActivity(now(), c), stopped: false, fresh: true });
    },
    observe(clusterId, summary) {
      const e = clusters.get(clusterId);
      if (!e) return false;
      e.fresh = false;
      recordSummary(e.activity, summary, now(), e.config.gpuAlertWindowMs);
      return true;
    },
    merge(clusterId, w) {
      const e = clusters.get(clusterId);
      if (!e) return false;
      mergeWatchState(e.activity, w, e.fresh);
      e.fresh = false;
      return true;
    },
    untrack: (clusterId) => void clusters.delete(clusterId),
    tracked: () => [...clusters.keys()],
    check,
    start() {
      if (timer !== undefined) return;
      const h = setEvery(check, every);
      (h as { unref?: () => void }).unref?.();
      timer = h;
    },
    stop() {
      if (timer !== undefined) clearEvery(timer);
      timer = undefined;
    },
    size: () => clusters.size,
  };
}
