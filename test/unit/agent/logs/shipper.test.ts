import t from 'tap';
import { PassThrough } from 'node:stream';
import { createLogShipper } from '../../../../agent/logs/shipper.js';
import { checkBatch } from '../../../../agent/logs/batcher.js';
import type { LogEvent, LogSink, LogStreamRef, PutOutcome } from '../../../../agent/logs/types.js';
import { fakeLog } from './fixtures/fake-log.js';

/** A sink that stores valid batches, answering from a script of outcomes first. */
function scriptedSink(script: PutOutcome['kind'][] = []): LogSink & { events: LogEvent[]; targets: LogStreamRef[]; calls: number } {
  const events: LogEvent[] = [];
  const targets: LogStreamRef[] = [];
  const sink = {
    events,
    targets,
    calls: 0,
    put(target: LogStreamRef, batch: readonly LogEvent[]): Promise<PutOutcome> {
      sink.calls++;
      const problem = checkBatch(batch);
      if (problem) return Promise.resolve({ kind: 'failure', error: new Error(problem) });
      const next = script.shift() ?? 'success';
      if (next === 'success') {
        targets.push(target);
        events.push(...batch);
        return Promise.resolve({ kind: 'success' });
      }
      return Promise.resolve({ kind: next, error: new Error(`scripted ${next}`) });
    },
  };
  return sink;
}

const base = { group: 'ws-1', stream: 'scheduler', flushIntervalMs: 20, syncIntervalMs: 20 };

void t.test('lines written, captured and logged by pino all reach the sink in order with their source', async (t) => {
  const sink = scriptedSink();
  const shipper = createLogShipper({ ...base, spoolDir: t.testdir(), sink, log: fakeLog() });
  t.teardown(() => shipper.close());
  shipper.write('boot', 'first');
  const out = new PassThrough();
  shipper.capture(out, 'dask-worker:stdout');
  out.write('second\nthi');
  out.end('rd\n');
  await new Promise((r) => setImmediate(r));
  shipper.pinoDestination().write('{"level":30,"msg":"fourth"}\n');
  t.equal(await shipper.flush(10_000), true);
  t.same(sink.events.map((e) => e.message), ['[boot] first', '[dask-worker:stdout] second', '[dask-worker:stdout] third', '[agent] {"level":30,"msg":"fourth"}']);
  t.same(sink.targets[0], { group: 'ws-1', stream: 'scheduler' });
  t.equal(shipper.stats().shippedEvents, 4);
  t.equal(shipper.stats().pendingBytes, 0);
});

void t.test('retryable outcomes are retried with growing, jittered delays until the batch is accepted', async (t) => {
  const sink = scriptedSink(['retryable', 'retryable', 'retryable', 'retryable']);
  const delays: number[] = [];
  const shipper = createLogShipper({
    ...base,
    spoolDir: t.testdir(),
    sink,
    log: fakeLog(),
    random: () => 0.5,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  t.teardown(() => shipper.close());
  for (let i = 0; i < 100; i++) shipper.write('w', `line ${i}`);
  t.equal(await shipper.flush(10_000), true);
  t.equal(sink.events.length, 100);
  t.same(delays, [100, 200, 400, 800], 'half of 200 ms × 2^attempt');
  t.equal(shipper.stats().retries, 4);
});

void t.test('a batch the sink refuses for good is logged and skipped; later lines still ship', async (t) => {
  const sink = scriptedSink(['failure']);
  const log = fakeLog();
  const shipper = createLogShipper({ ...base, spoolDir: t.testdir(), sink, log });
  t.teardown(() => shipper.close());
  shipper.write('w', 'doomed');
  t.equal(await shipper.flush(10_000), true);
  shipper.write('w', 'fine');
  t.equal(await shipper.flush(10_000), true);
  t.same(sink.events.map((e) => e.message), ['[w] fine']);
  t.equal(shipper.stats().failedEvents, 1);
  t.ok(log.entries.some((e) => e.level === 'error' && e.msg.includes('refused a batch for good')));
});

void t.test('events the store rejects as too old or too new are counted and reported with their range', async (t) => {
  const log = fakeLog();
  const sink: LogSink = { put: (_t, batch) => Promise.resolve({ kind: 'success', rejected: { tooOldEndIndex: 2, tooNewStartIndex: batch.length - 1 } }) };
  const shipper = createLogShipper({ ...base, spoolDir: t.testdir(), sink, log });
  t.teardown(() => shipper.close());
  for (let i = 0; i < 5; i++) shipper.write('w', `l${i}`, 1_000 + i);
  t.equal(await shipper.flush(10_000), true);
  t.equal(shipper.stats().rejectedEvents, 3);
  const warn = log.entries.find((e) => e.msg.includes('refused some events'));
  t.match(warn?.obj, { tooOld: 2, tooNew: 1, expired: 0, firstTimestamp: 1000, lastTimestamp: 1004 });
});

void t.test('a line longer than maxLineBytes is kept whole, as consecutive parts', async (t) => {
  const sink = scriptedSink();
  const shipper = createLogShipper({ ...base, spoolDir: t.testdir(), sink, log: fakeLog(), maxLineBytes: 1000 });
  t.teardown(() => shipper.close());
  const long = 'ab'.repeat(1250);
  shipper.write('', long);
  t.equal(await shipper.flush(10_000), true);
  t.same(sink.events.map((e) => e.message.length), [1000, 1000, 500]);
  t.equal(sink.events.map((e) => e.message).join(''), long);
});

void t.test('close ships what is spooled; what it cannot ship is shipped by the next shipper on the same spool', async (t) => {
  const dir = t.testdir();
  const down: LogSink = { put: () => Promise.resolve({ kind: 'retryable', error: new Error('down') }) };
  const first = createLogShipper({ ...base, spoolDir: dir, sink: down, log: fakeLog(), closeTimeoutMs: 200, sleep: (_ms, s) => new Promise((r) => s.addEventListener('abort', () => r(), { once: true })) });
  for (let i = 0; i < 50; i++) first.write('w', `line ${i}`);
  t.equal(await first.flush(300), false, 'flush reports it could not ship');
  await first.close();
  t.ok(first.stats().pendingBytes > 0);

  const sink = scriptedSink();
  const second = createLogShipper({ ...base, spoolDir: dir, sink, log: fakeLog() });
  t.teardown(() => second.close());
  t.equal(await second.flush(10_000), true);
  t.same(sink.events.map((e) => e.message), Array.from({ length: 50 }, (_, i) => `[w] line ${i}`));
});

void t.test('writes after close are ignored instead of throwing', async (t) => {
  const shipper = createLogShipper({ ...base, spoolDir: t.testdir(), sink: scriptedSink(), log: fakeLog() });
  await shipper.close();
  t.doesNotThrow(() => shipper.write('w', 'late'));
});
