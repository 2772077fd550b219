// Watchdog thresholds for one cluster. Defaults are Coiled's; a cluster (or its workspace) overrides any of
// them. Validated once when the cluster is tracked, then frozen.

import { SkiffError } from '../api/errors.js';

export interface WatchdogConfig {
  /** No task processing, queued or waiting for a worker this long → stop. Default 20 min. */
  idleTimeoutMs: number;
  /** No Dask client connected this long (since start or since the last one left) → stop. Default 2 min. */
  noClientTimeoutMs: number;
  /** No telemetry summary from the scheduler this long → stop. Default 20 min. */
  heartbeatTimeoutMs: number;
  /** GPUs whose mean utilization stays below this (percent) over the window → alert. Default 10. */
  gpuAlertThresholdPct: number;
  /** Default 15 min. */
  gpuAlertWindowMs: number;
  /** At most one GPU alert per cluster this often. Default 1 h. */
  gpuAlertRepeatMs: number;
  /**
   * Activity and client data older than this is not trusted for the idle and no-client rules (the
   * heartbeat rule takes over): a cluster whose link is down is not called idle on stale data. Default 60 s.
   */
  staleAfterMs: number;
}

export const DEFAULT_WATCHDOG_CONFIG: Readonly<WatchdogConfig> = Object.freeze({
  idleTimeoutMs: 20 * 60_000,
  noClientTimeoutMs: 2 * 60_000,
  heartbeatTimeoutMs: 20 * 60_000,
  gpuAlertThresholdPct: 10,
  gpuAlertWindowMs: 15 * 60_000,
  gpuAlertRepeatMs: 60 * 60_000,
  staleAfterMs: 60_000,
});

const MAX_MS = 30 * 24 * 3_600_000;

/** Defaults ← workspace ← cluster. Throws BRK_BAD_REQUEST naming the bad field. */
export function resolveWatchdogConfig(...overrides: Array<Partial<WatchdogConfig> | undefined>): Readonly<WatchdogConfig> {
  const c: WatchdogConfig = { ...DEFAULT_WATCHDOG_CONFIG };
  for (const o of overrides) {
    if (!o) continue;
    for (const [k, v] of Object.entries(o)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  }
  for (const [k, v] of Object.entries(c)) {
    if (!(k in DEFAULT_WATCHDOG_CONFIG)) throw new SkiffError('BRK_BAD_REQUEST', `unknown watchdog setting "${k}"`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SkiffError('BRK_BAD_REQUEST', `watchdog setting ${k} must be a number, got ${JSON.stringify(v)}`);
    if (k === 'gpuAlertThresholdPct') {
      if (v < 0 || v > 100) throw new SkiffError('BRK_BAD_REQUEST', `GPU alert threshold must be from 0 to 100 percent, got ${v}`);
    } else if (v <= 0 || v > MAX_MS) {
      throw new SkiffError('BRK_BAD_REQUEST', `watchdog setting ${k} must be more than 0 and at most 30 days, got ${v} ms`);
    }
  }
  return Object.freeze(c);
}
