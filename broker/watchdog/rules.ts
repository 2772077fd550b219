// The watchdog's rules as one pure function: what should happen to a cluster now, given what it has been
// doing. No clock, no I/O: the caller passes `nowMs`, so the rules are table-tested with a fake clock.
//
//   heartbeat lost ──► stop "no heartbeat for 20m"       (checked first: other data is stale then)
//   data fresh and idle ≥ limit ──► stop "idle for 20m"
//   data fresh and no client ≥ limit ──► stop "no client connected for 2m"
//   GPUs seen for a whole window, mean < threshold, none alerted within the repeat ──► alert

import { gpuAverage, type ClusterActivity } from './activity.js';
import type { WatchdogConfig } from './config.js';
import { formatDuration } from '../api/durations.js';

export type StopRule = 'heartbeat' | 'idle' | 'no-client';
export type Decision = { kind: 'stop'; rule: StopRule; reason: string } | { kind: 'alert'; rule: 'gpu-waste'; reason: string };

export function decide(a: ClusterActivity, config: WatchdogConfig, nowMs: number): Decision[] {
  const sinceHeartbeat = nowMs - a.lastHeartbeatMs;
  if (sinceHeartbeat >= config.heartbeatTimeoutMs) {
    return [{ kind: 'stop', rule: 'heartbeat', reason: `no heartbeat for ${formatDuration(config.heartbeatTimeoutMs)}` }];
  }
  // Before the first summary the start time stands in as the last report, so a cluster is judged as
  // "fresh" for staleAfterMs after it starts and then only by the heartbeat rule until it reports.
  const fresh = sinceHeartbeat <= config.staleAfterMs;
  if (fresh && nowMs - a.lastActiveMs >= config.idleTimeoutMs) {
    return [{ kind: 'stop', rule: 'idle', reason: `idle for ${formatDuration(config.idleTimeoutMs)}` }];
  }
  if (fresh && a.noClientSinceMs !== undefined && nowMs - a.noClientSinceMs >= config.noClientTimeoutMs) {
    return [{ kind: 'stop', rule: 'no-client', reason: `no client connected for ${formatDuration(config.noClientTimeoutMs)}` }];
  }
  const g = a.gpu;
  if (
    fresh &&
    g.sinceMs !== undefined &&
    nowMs - g.sinceMs >= config.gpuAlertWindowMs &&
    (a.lastGpuAlertMs === undefined || nowMs - a.lastGpuAlertMs >= config.gpuAlertRepeatMs)
  ) {
    const avg = gpuAverage(g, nowMs, config.gpuAlertWindowMs);
    if (avg !== undefined && avg < config.gpuAlertThresholdPct) {
      const gpus = g.count === 1 ? '1 GPU' : `${g.count} GPUs`;
      return [{
        kind: 'alert',
        rule: 'gpu-waste',
        reason: `${gpus} averaged ${Number(avg.toFixed(1))}% utilization over ${formatDuration(config.gpuAlertWindowMs)} (alert threshold ${config.gpuAlertThresholdPct}%)`,
      }];
    }
  }
  return [];
}
