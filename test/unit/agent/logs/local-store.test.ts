import t from 'tap';
import { appendFileSync } from 'node:fs';
import { createLocalSink } from '../../../../agent/logs/local-sink.js';
import { localStreamPath } from '../../../../broker/api/logs.js';
import { readLogs } from '../../../../broker/logs/reader.js';
import { collect } from '../../../helpers/wait.js';

void t.test('the local store reads back every stream merged in time order, filtered and from a time', async (t) => {
  const dir = t.testdir();
  const sink = createLocalSink({ dir });
  await sink.put({ group: 'ws/a', stream: 'scheduler' }, [{ timestamp: 1, message: 'sched up' }, { timestamp: 5, message: 'task done' }]);
  await sink.put({ group: 'ws/a', stream: 'worker-1' }, [{ timestamp: 3, message: 'worker up' }, { timestamp: 7, message: 'task done' }]);
  await sink.put({ group: 'ws/b', stream: 'scheduler' }, [{ timestamp: 2, message: 'other workspace' }]);

  const all = await collect(readLogs({ source: 'local', dir, group: 'ws/a' }));
  t.same(all.map((e) => [e.timestamp, e.stream, e.message]), [[1, 'scheduler', 'sched up'], [3, 'worker-1', 'worker up'], [5, 'scheduler', 'task done'], [7, 'worker-1', 'task done']]);
  t.same((await collect(readLogs({ source: 'local', dir, group: 'ws/a', filter: 'task' }))).map((e) => e.timestamp), [5, 7]);
  t.same((await collect(readLogs({ source: 'local', dir, group: 'ws/a', sinceMs: 4 }))).map((e) => e.timestamp), [5, 7]);
  t.same((await collect(readLogs({ source: 'local', dir, group: 'ws/a', streams: ['worker-1'] }))).map((e) => e.message), ['worker up', 'task done']);
  t.same(await collect(readLogs({ source: 'local', dir, group: 'nobody' })), [], 'an unknown group reads as empty');
});

void t.test('following the local store yields lines as they are stored until aborted', async (t) => {
  const dir = t.testdir();
  const sink = createLocalSink({ dir });
  const target = { group: 'ws', stream: 'scheduler' };
  await sink.put(target, [{ timestamp: 1, message: 'before' }]);
  const ac = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const e of readLogs({ source: 'local', dir, group: 'ws', follow: true, pollMs: 20, signal: ac.signal })) {
      seen.push(e.message);
      if (e.message === 'before') {
        await sink.put(target, [{ timestamp: 2, message: 'after' }]);
        await sink.put({ group: 'ws', stream: 'worker-9' }, [{ timestamp: 3, message: 'new machine' }]);
      }
      if (seen.length === 3) ac.abort();
    }
  })();
  await reading;
  t.same(seen, ['before', 'after', 'new machine']);
});

void t.test('a half-written last line is not read until it is complete', async (t) => {
  const dir = t.testdir();
  const target = { group: 'ws', stream: 's' };
  await createLocalSink({ dir }).put(target, [{ timestamp: 1, message: 'whole' }]);
  appendFileSync(localStreamPath(dir, target), '{"t":2,"m":"hal');
  t.same((await collect(readLogs({ source: 'local', dir, group: 'ws' }))).map((e) => e.message), ['whole']);
});
