import t from 'tap';
import { pino } from 'pino';
import { createWatchdog } from '../../../../broker/watchdog/watchdog.js';
import type { TelemetrySummary } from '../../../../broker/api/telemetry.js';
import { fakeClock } from '../../../helpers/clock.js';

const S = 1000;
const M = 60 * S;
const log = pino({ level: 'silent' });

function summary(processing: number, clients = 1, gpus = 0, gpuUtil = 0): TelemetrySummary {
  return {
    v: 1, kind: 'summary', atMs: 0, machines: 1, cpuLoadPct: 0, memUsedBytes: 0, memTotalBytes: 0,
    dask: { tasksProcessing: processing, tasksQueued: 0, tasksNoWorker: 0, clients, workers: 1 },
    gpus: { count: gpus, avgUtilizationPct: gpuUtil, memoryUsedMiB: 0, memoryTotalMiB: 0 },
  };
}

t.test('10,000 clusters: every idle one is stopped within one check interval of its limit, busy ones are not', async (t) => {
  const clock = fakeClock();
  const stops = new Map<string, { atMs: number; reason: string }>();
  const wd = createWatchdog({
    checkIntervalMs: 5 * S, now: clock.now, setInterval: clock.setInterval, clearInterval: clock.clearInterval, log,
    onStop: (id, reason) => stops.set(id, { atMs: clock.now(), reason }), onAlert: () => undefined,
  });
  const start = clock.now();
  const n = 10_000;
  for (let i = 0; i < n; i++) wd.track(`c${i}`, { idleTimeoutMs: 10 * S });
  wd.start();
  // Even clusters finish their work after 1 s; odd ones keep computing. Each cluster reports every 5 s,
  // checked with the watchdog's own ticks.
  clock.advance(2 * M, () => {
    for (let i = 0; i < n; i++) wd.observe(`c${i}`, summary(i % 2 === 1 || clock.now() - start < 1 * S ? 1 : 0));
  });
  let late = 0;
  for (let i = 0; i < n; i += 2) {
    const s = stops.get(`c${i}`);
    // Idle since the start (the first summary already reports no task): the limit falls at start + 10 s.
    if (!s || s.reason !== 'idle for 10s' || s.atMs - (start + 10 * S) > 5 * S || s.atMs < start + 10 * S) late++;
  }
  t.equal(late, 0, 'every idle cluster stopped with "idle for 10s" between its limit and one check later');
  t.equal([...stops.keys()].filter((id) => Number(id.slice(1)) % 2 === 1).length, 0, 'no busy cluster stopped');
  t.equal(stops.size, n / 2, 'each idle cluster stopped exactly once');
  wd.stop();
});

t.test('a GPU cluster at 2% gets exactly one alert in an hour; at 80% none', async (t) => {
  for (const [util, want] of [[2, 1], [80, 0]] as const) {
    const clock = fakeClock();
    const alerts: string[] = [];
    const wd = createWatchdog({
      checkIntervalMs: 5 * S, now: clock.now, setInterval: clock.setInterval, clearInterval: clock.clearInterval, log,
      onStop: () => undefined, onAlert: (_id, reason) => alerts.push(reason),
    });
    wd.track('gpu', {});
    wd.start();
    clock.advance(59 * M, () => wd.observe('gpu', summary(1, 1, 1, util)));
    t.equal(alerts.length, want, `${util}% → ${want} alert(s)`);
    wd.stop();
  }
});

t.test('an untracked cluster is forgotten: its summaries are refused and it is never stopped', async (t) => {
  const clock = fakeClock();
  const stops: string[] = [];
  const wd = createWatchdog({
    checkIntervalMs: 5 * S, now: clock.now, setInterval: clock.setInterval, clearInterval: clock.clearInterval, log,
    onStop: (id) => stops.push(id), onAlert: () => undefined,
  });
  wd.track('a', { idleTimeoutMs: 10 * S });
  wd.start();
  wd.untrack('a');
  t.equal(wd.observe('a', summary(0)), false);
  clock.advance(M, () => undefined);
  t.same(stops, []);
  t.equal(wd.size(), 0);
});

t.test('a throwing callback is logged and the other clusters are still checked', async (t) => {
  const clock = fakeClock();
  const stops: string[] = [];
  const wd = createWatchdog({
    checkIntervalMs: 5 * S, now: clock.now, setInterval: clock.setInterval, clearInterval: clock.clearInterval, log,
    onStop: (id) => {
      stops.push(id);
      if (id === 'a') throw new Error('store full');
    },
    onAlert: () => undefined,
  });
  wd.track('a', { noClientTimeoutMs: 5 * S });
  wd.track('b', { noClientTimeoutMs: 5 * S });
  wd.start();
  clock.advance(30 * S, () => {
    wd.observe('a', summary(1, 0));
    wd.observe('b', summary(1, 0));
  });
  t.same(stops.sort(), ['a', 'b']);
});
