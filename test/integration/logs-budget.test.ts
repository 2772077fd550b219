import t from 'tap';
import { createCloudWatchSink, createLogShipper } from '../../agent/logs/index.js';
import { allEvents, numbers } from './logs-fixtures/moto-events.js';
import { cloudWatchSetup } from './logs-fixtures/cloudwatch-setup.js';

void t.test('past the spool budget the oldest lines are dropped, and the count is logged and shipped', async (t) => {
  const { proxy, client, log } = await cloudWatchSetup(t);
  const budgetBytes = 2 * 1024 * 1024;
  const shipper = createLogShipper({
    spoolDir: t.testdir(),
    sink: createCloudWatchSink({ client, log }),
    group: 'ws-budget',
    stream: 'worker-3',
    log,
    budgetBytes,
    flushIntervalMs: 100,
    backoffMaxMs: 500,
  });
  t.teardown(() => shipper.close());

  proxy.mode = 'unavailable';
  const LINES = 20_000; // ~10 MB against a 2 MB budget
  for (let i = 0; i < LINES; i++) {
    shipper.write('dask', `n ${i} ${'y'.repeat(500)}`);
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  const dropped = shipper.stats().droppedLines;
  t.ok(dropped > 10_000, `${dropped} lines dropped`);
  t.ok(shipper.stats().pendingBytes <= budgetBytes + 512 * 1024, 'the spool stays within its budget (plus one segment being written)');
  const warns = log.entries.filter((e) => e.msg === 'log spool over budget, dropped the oldest lines');
  t.ok(warns.length > 0 && warns.length < 50, `logged once per drop (${warns.length} drops), not once per line`);
  t.equal(warns.reduce((s, w) => s + (w.obj['droppedLines'] as number), 0), dropped);

  proxy.mode = 'pass';
  t.equal(await shipper.flush(60_000), true);
  const stored = await allEvents(client, 'ws-budget', 'worker-3');
  const got = numbers(stored);
  t.equal(got.at(-1), LINES - 1, 'the newest line is kept');
  // Kept: the one batch already in flight when the store went down (read before the drop), then a gap, then
  // the newest lines up to the last.
  const gaps = got.flatMap((n, i) => (i > 0 && n !== got[i - 1]! + 1 ? [i] : []));
  t.equal(gaps.length, 1, 'one gap: only the oldest waiting lines were dropped');
  t.ok(gaps[0]! <= 10_000, `before the gap, at most the one batch in flight (${gaps[0]} lines)`);
  t.ok(got.every((n, i) => i === 0 || n > got[i - 1]!), 'in order, no duplicates');
  const notices = stored.filter((e) => /^skiff: dropped \d+ log lines \(spool over budget 2097152 bytes\)$/.test(e.message));
  t.ok(notices.length > 0, 'the drop is itself shipped as a line');
  const announced = notices.reduce((s, e) => s + Number(/dropped (\d+)/.exec(e.message)![1]), 0);
  // Every line is either in CloudWatch or counted; a notice can itself be dropped by a later drop.
  t.ok(got.length + dropped >= LINES, `${got.length} stored + ${dropped} counted cover all ${LINES}`);
  t.ok(announced > 0 && announced <= dropped);
});
