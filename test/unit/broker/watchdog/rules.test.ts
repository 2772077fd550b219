import t from 'tap';
import { newActivity, recordSummary, type ClusterActivity } from '../../../../broker/watchdog/activity.js';
import { DEFAULT_WATCHDOG_CONFIG, resolveWatchdogConfig, type WatchdogConfig } from '../../../../broker/watchdog/config.js';
import { decide } from '../../../../broker/watchdog/rules.js';
import type { TelemetrySummary } from '../../../../broker/api/telemetry.js';

const S = 1000;
const M = 60 * S;

function summary(p: { processing?: number; queued?: number; noWorker?: number; clients?: number; gpus?: number; gpuUtil?: number } = {}): TelemetrySummary {
  return {
    v: 1, kind: 'summary', atMs: 0, machines: 2, cpuLoadPct: 1, memUsedBytes: 1, memTotalBytes: 2,
    dask: { tasksProcessing: p.processing ?? 0, tasksQueued: p.queued ?? 0, tasksNoWorker: p.noWorker ?? 0, clients: p.clients ?? 0, workers: 1 },
    gpus: { count: p.gpus ?? 0, avgUtilizationPct: p.gpuUtil ?? 0, memoryUsedMiB: 0, memoryTotalMiB: 0 },
  };
}

type Step = { atMs: number; s: TelemetrySummary };

/** Replays summaries every `everyMs` from 0 up to `untilMs` (each produced by `at(t)`), then decides at `untilMs`. */
function replay(config: WatchdogConfig, untilMs: number, at: (tMs: number) => TelemetrySummary | undefined, everyMs = 5 * S): ClusterActivity {
  const a = newActivity(0, config);
  const steps: Step[] = [];
  for (let tMs = everyMs; tMs <= untilMs; tMs += everyMs) {
    const s = at(tMs);
    if (s) steps.push({ atMs: tMs, s });
  }
  for (const st of steps) recordSummary(a, st.s, st.atMs, config.gpuAlertWindowMs);
  return a;
}

const cfg = (o: Partial<WatchdogConfig> = {}) => resolveWatchdogConfig(o);

t.test('stop rules, fake clock', async (t) => {
  const cases: Array<{ name: string; config: WatchdogConfig; atMs: number; feed: (tMs: number) => TelemetrySummary | undefined; want: string | undefined }> = [
    { name: 'idle cluster with a client is stopped once the idle limit is reached', config: cfg({ idleTimeoutMs: 10 * S }), atMs: 10 * S, feed: () => summary({ clients: 1 }), want: 'idle for 10s' },
    { name: 'idle cluster is not stopped a moment before the limit', config: cfg({ idleTimeoutMs: 10 * S }), atMs: 9.9 * S, feed: () => summary({ clients: 1 }), want: undefined },
    { name: 'a long task keeps the cluster alive', config: cfg({ idleTimeoutMs: 10 * S }), atMs: 60 * M, feed: () => summary({ clients: 1, processing: 1 }), want: undefined },
    { name: 'queued tasks count as activity', config: cfg({ idleTimeoutMs: 10 * S }), atMs: 5 * M, feed: () => summary({ clients: 1, queued: 3 }), want: undefined },
    { name: 'tasks waiting for a worker count as activity', config: cfg({ idleTimeoutMs: 10 * S }), atMs: 5 * M, feed: () => summary({ clients: 1, noWorker: 3 }), want: undefined },
    { name: 'idle is counted from the end of the last computation', config: cfg({ idleTimeoutMs: 20 * M }), atMs: 39 * M, feed: (tMs) => summary({ clients: 1, processing: tMs <= 20 * M ? 1 : 0 }), want: undefined },
    { name: 'idle is counted from the end of the last computation and stops at the limit', config: cfg({ idleTimeoutMs: 20 * M }), atMs: 40 * M, feed: (tMs) => summary({ clients: 1, processing: tMs <= 20 * M ? 1 : 0 }), want: 'idle for 20m' },
    { name: 'no client ever connected: stopped after the limit since start', config: cfg({ noClientTimeoutMs: 5 * S }), atMs: 5 * S, feed: () => summary({ processing: 1 }), want: 'no client connected for 5s' },
    { name: 'a connected client keeps the cluster alive', config: cfg({ noClientTimeoutMs: 5 * S }), atMs: 30 * M, feed: () => summary({ clients: 1, processing: 1 }), want: undefined },
    { name: 'no-client limit counts from when the last client left', config: cfg({ noClientTimeoutMs: 2 * M }), atMs: 11 * M, feed: (tMs) => summary({ processing: 1, clients: tMs < 10 * M ? 1 : 0 }), want: undefined },
    { name: 'no-client limit is reached 2 minutes after the last client left', config: cfg({ noClientTimeoutMs: 2 * M }), atMs: 12 * M, feed: (tMs) => summary({ processing: 1, clients: tMs < 10 * M ? 1 : 0 }), want: 'no client connected for 2m' },
    { name: 'a scheduler that never reports is stopped for lack of heartbeat, not called idle', config: cfg(), atMs: 20 * M, feed: () => undefined, want: 'no heartbeat for 20m' },
    { name: 'silence shorter than the heartbeat limit stops nothing, even past the idle limit', config: cfg({ idleTimeoutMs: 1 * M }), atMs: 19 * M, feed: (tMs) => (tMs <= 10 * S ? summary({ clients: 1 }) : undefined), want: undefined },
    { name: 'heartbeat is counted from the last summary', config: cfg(), atMs: 25 * M, feed: (tMs) => (tMs <= 5 * M ? summary({ clients: 1, processing: 1 }) : undefined), want: 'no heartbeat for 20m' },
  ];
  for (const c of cases) {
    const a = replay(c.config, c.atMs, c.feed);
    const stops = decide(a, c.config, c.atMs).filter((d) => d.kind === 'stop').map((d) => d.reason);
    t.same(stops, c.want === undefined ? [] : [c.want], c.name);
  }
});

t.test('GPU waste alert, fake clock', async (t) => {
  const config = cfg({ idleTimeoutMs: 10 * 60 * M, noClientTimeoutMs: 10 * 60 * M });
  const busy = (util: number, gpus = 4) => () => summary({ clients: 1, processing: 1, gpus, gpuUtil: util });
  const alerts = (a: ClusterActivity, atMs: number) => decide(a, config, atMs).filter((d) => d.kind === 'alert');

  t.same(alerts(replay(config, 14 * M, busy(2)), 14 * M), [], 'no alert before GPUs were seen for a whole window');
  const low = alerts(replay(config, 15 * M + 5 * S, busy(2)), 15 * M + 5 * S);
  t.equal(low.length, 1, 'alert once GPUs averaged under the threshold for the window');
  t.match(low[0]?.reason, /^4 GPUs averaged 2% utilization over 15m \(alert threshold 10%\)$/);
  t.same(alerts(replay(config, 30 * M, busy(80)), 30 * M), [], 'busy GPUs raise no alert');
  t.same(alerts(replay(config, 30 * M, busy(2, 0)), 30 * M), [], 'a cluster without GPUs raises no alert');
  // Low for the first 15 minutes, busy for the next 15: the last window is busy.
  const recovered = replay(config, 30 * M, (tMs) => summary({ clients: 1, processing: 1, gpus: 1, gpuUtil: tMs <= 15 * M ? 2 : 80 }));
  t.same(alerts(recovered, 30 * M), [], 'only the last window counts');
  // Repeat: once alerted, silent for an hour, then again.
  const a = replay(config, 20 * M, busy(2));
  a.lastGpuAlertMs = 16 * M;
  t.same(alerts(a, 20 * M), [], 'no second alert within the repeat period');
  t.equal(alerts(a, 76 * M).length, 0, 'stale data (no summary since 20 min) raises no alert');
  const b = replay(config, 76 * M, busy(2));
  b.lastGpuAlertMs = 16 * M;
  t.equal(alerts(b, 76 * M).length, 1, 'alerted again once the repeat period has passed');
});

t.test('settings are validated and defaults are Coiled-like', async (t) => {
  t.same(cfg(), DEFAULT_WATCHDOG_CONFIG);
  t.equal(DEFAULT_WATCHDOG_CONFIG.idleTimeoutMs, 20 * M);
  t.equal(DEFAULT_WATCHDOG_CONFIG.noClientTimeoutMs, 2 * M);
  t.throws(() => cfg({ idleTimeoutMs: 0 }), { code: 'BRK_BAD_REQUEST', message: /idleTimeoutMs must be more than 0/ });
  t.throws(() => cfg({ gpuAlertThresholdPct: 120 }), { code: 'BRK_BAD_REQUEST', message: /0 to 100 percent/ });
  t.equal(resolveWatchdogConfig({ idleTimeoutMs: 5 * M }, { idleTimeoutMs: 10 * S }).idleTimeoutMs, 10 * S, 'the cluster setting wins over the workspace');
});
