import t from 'tap';
import pino from 'pino';
import { newActivity } from '../../../../broker/watchdog/activity.js';
import { createWatchWriter, mergeWatchState } from '../../../../broker/watchdog/watch-state.js';
import type { TelemetrySummary } from '../../../../broker/api/telemetry.js';
import type { WatchState } from '../../../../broker/store/store.js';

const log = pino({ level: 'silent' });
const summary = (busy: boolean, clients: number): TelemetrySummary =>
  ({ dask: { tasksProcessing: busy ? 3 : 0, tasksQueued: 0, tasksNoWorker: 0, clients }, gpus: { count: 0, avgUtilizationPct: 0 } }) as unknown as TelemetrySummary;
const iso = (ms: number) => new Date(ms).toISOString();

t.test('the writer shares a change at once and a steady state at most every interval', async (t) => {
  let now = 0;
  const writes: WatchState[] = [];
  const w = createWatchWriter({ store: { putWatch: (s) => (writes.push(s), Promise.resolve()) }, log, now: () => now, everyMs: 30_000 });
  w.report('c1', summary(true, 1));
  for (let i = 0; i < 5; i++) {
    now += 5000;
    w.report('c1', summary(true, 1));
  }
  t.equal(writes.length, 1, 'five steady reports in 25 s: one write');
  now += 5000;
  w.report('c1', summary(true, 1));
  t.equal(writes.length, 2, 'the next after 30 s');
  t.equal(writes[1]?.activeAt, iso(30_000), 'busy: active at the report');
  now += 1000;
  w.report('c1', summary(false, 1));
  t.equal(writes.length, 3, 'turning idle is written at once');
  t.equal(writes[2]?.activeAt, iso(30_000), 'keeping when it was last busy');
  now += 1000;
  w.report('c1', summary(false, 0));
  t.equal(writes.length, 4, 'losing the last client too');
  t.equal(writes[3]?.noClientSince, iso(32_000));
  now += 10_000;
  w.report('c1', summary(false, 0));
  now += 30_000;
  w.report('c1', summary(false, 0));
  t.equal(writes.at(-1)?.noClientSince, iso(32_000), 'without a client since then, however often it is written');
});

t.test('merging: forward in time only, except into a view that has seen nothing (a new leader)', async (t) => {
  const cfg = { gpuAlertWindowMs: 600_000 };
  const a = newActivity(100_000, cfg);
  const w: WatchState = { clusterId: 'c1', heartbeatAt: iso(90_000), activeAt: iso(10_000), busy: false, clients: 0, noClientSince: iso(20_000) };
  mergeWatchState(a, w);
  t.equal(a.lastActiveMs, 100_000, 'a stale state does not make the cluster look idle for longer');
  const fresh = newActivity(100_000, cfg);
  mergeWatchState(fresh, w, true);
  t.same([fresh.lastActiveMs, fresh.noClientSinceMs, fresh.lastHeartbeatMs], [10_000, 20_000, 90_000], "a new leader takes the cluster's idle time over");
  mergeWatchState(fresh, { clusterId: 'c1', heartbeatAt: iso(120_000), activeAt: iso(115_000), busy: true, clients: 2 });
  t.same([fresh.lastActiveMs, fresh.noClientSinceMs, fresh.clients], [115_000, undefined, 2], 'then a newer state moves it on');
  mergeWatchState(fresh, { ...w, heartbeatAt: iso(110_000) });
  t.same([fresh.lastActiveMs, fresh.clients], [115_000, 2], 'an older one changes nothing');
});
