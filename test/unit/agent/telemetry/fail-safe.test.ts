import t from 'tap';
import { pino } from 'pino';
import { createFailSafe } from '../../../../agent/telemetry/fail-safe.js';
import type { DaskActivity } from '../../../../broker/api/telemetry.js';

const S = 1000;
const M = 60 * S;
const log = pino({ level: 'silent' });
const activity = (processing: number): DaskActivity => ({ tasksProcessing: processing, tasksQueued: 0, tasksNoWorker: 0, clients: 0, workers: 1 });

function setup(idleTimeoutMs: number) {
  let nowMs = 0;
  let downSince: number | undefined;
  const reasons: string[] = [];
  const fs = createFailSafe({ heartbeatLimitMs: 20 * M, idleTimeoutMs, now: () => nowMs, linkDownSinceMs: () => downSince, shutdown: (r) => reasons.push(r), log });
  return {
    fs, reasons,
    at: (ms: number) => (nowMs = ms),
    down: (ms: number | undefined) => (downSince = ms),
  };
}

t.test('broker unreachable past the heartbeat limit and the cluster idle: the machine shuts itself down once', async (t) => {
  const s = setup(20 * M);
  s.down(0);
  s.at(20 * M - 1);
  s.fs.check();
  t.same(s.reasons, [], 'not before the limit');
  s.at(20 * M);
  s.fs.check();
  s.at(21 * M);
  s.fs.check();
  t.same(s.reasons, ['idle for 20m while the broker was unreachable for 20m']);
});

t.test('a busy cluster keeps running while the broker is away, and stops once idle long enough', async (t) => {
  const s = setup(20 * M);
  s.down(0);
  for (let ms = 0; ms <= 60 * M; ms += 5 * S) {
    s.at(ms);
    s.fs.observe(activity(ms <= 30 * M ? 1 : 0));
    s.fs.check();
    if (s.reasons.length > 0) {
      t.equal(ms, 50 * M, 'stopped 20 minutes after the last task');
      break;
    }
  }
  t.equal(s.reasons.length, 1);
});

t.test('an idle cluster with the broker reachable is left to the broker', async (t) => {
  const s = setup(20 * M);
  s.at(5 * 60 * M);
  s.fs.check();
  t.same(s.reasons, []);
});

t.test('a worker whose scheduler is gone past the limit stops', async (t) => {
  const s = setup(0);
  s.down(10 * M);
  s.at(30 * M);
  s.fs.check();
  t.same(s.reasons, ['upstream unreachable for 20m']);
});
