// What the watchdog remembers about one cluster between checks, and how a summary updates it. Constant size
// per cluster whatever the report rate: GPU utilization is kept as per-bucket sums (15 buckets per window),
// not as raw samples, so 10,000 clusters cost a few MB.

import type { TelemetrySummary } from '../api/telemetry.js';
import type { WatchdogConfig } from './config.js';

export const GPU_BUCKETS_PER_WINDOW = 15;

export interface GpuWindow {
  /** GPUs seen in every summary since then; undefined when the last summary had none. */
  sinceMs: number | undefined;
  count: number;
  bucketMs: number;
  /** Parallel arrays, oldest first: bucket start, sum of utilization samples, number of samples. */
  starts: number[];
  sums: number[];
  counts: number[];
}

export interface ClusterActivity {
  startedAtMs: number;
  /** Last summary received (broker clock), or the start. */
  lastHeartbeatMs: number;
  /** Last time tasks were processing, queued or waiting for a worker, or the start. */
  lastActiveMs: number;
  clients: number;
  /** Since when no client is connected (the start counts); undefined while one is. */
  noClientSinceMs: number | undefined;
  gpu: GpuWindow;
  lastGpuAlertMs: number | undefined;
}

export function newActivity(startedAtMs: number, config: Pick<WatchdogConfig, 'gpuAlertWindowMs'>): ClusterActivity {
  return {
    startedAtMs,
    lastHeartbeatMs: startedAtMs,
    lastActiveMs: startedAtMs,
    clients: 0,
    noClientSinceMs: startedAtMs,
    gpu: { sinceMs: undefined, count: 0, bucketMs: Math.max(1, Math.floor(config.gpuAlertWindowMs / GPU_BUCKETS_PER_WINDOW)), starts: [], sums: [], counts: [] },
    lastGpuAlertMs: undefined,
  };
}

/** Updates `a` in place with a summary received at `atMs` (broker clock). */
export function recordSummary(a: ClusterActivity, s: TelemetrySummary, atMs: number, windowMs: number): void {
  a.lastHeartbeatMs = atMs;
  if (s.dask.tasksProcessing + s.dask.tasksQueued + s.dask.tasksNoWorker > 0) a.lastActiveMs = atMs;
  if (s.dask.clients > 0) a.noClientSinceMs = undefined;
  else if (a.noClientSinceMs === undefined) a.noClientSinceMs = atMs;
  a.clients = s.dask.clients;
  recordGpu(a.gpu, s.gpus.count, s.gpus.avgUtilizationPct, atMs, windowMs);
}

function recordGpu(g: GpuWindow, count: number, utilPct: number, atMs: number, windowMs: number): void {
  g.count = count;
  if (count <= 0) {
    g.sinceMs = undefined;
    g.starts.length = g.sums.length = g.counts.length = 0;
    return;
  }
  g.sinceMs ??= atMs;
  const start = atMs - (atMs % g.bucketMs);
  const last = g.starts.length - 1;
  if (last >= 0 && g.starts[last] === start) {
    g.sums[last]! += utilPct;
    g.counts[last]! += 1;
  } else {
    g.starts.push(start);
    g.sums.push(utilPct);
    g.counts.push(1);
  }
  // Keep one bucket beyond the window so the oldest partial bucket still counts.
  while (g.starts.length > 0 && g.starts[0]! < atMs - windowMs - g.bucketMs) {
    g.starts.shift();
    g.sums.shift();
    g.counts.shift();
  }
}

/** Mean utilization over the buckets that overlap [nowMs - windowMs, nowMs]; undefined without samples. */
export function gpuAverage(g: GpuWindow, nowMs: number, windowMs: number): number | undefined {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < g.starts.length; i++) {
    if (g.starts[i]! + g.bucketMs <= nowMs - windowMs) continue;
    sum += g.sums[i]!;
    n += g.counts[i]!;
  }
  return n === 0 ? undefined : sum / n;
}
