import t from 'tap';
import { collect } from '../helpers/wait.js';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { createCloudWatchSink, createLogShipper } from '../../agent/logs/index.js';
import { clusterStreamPrefix, logGroupFor, logStreamFor } from '../../broker/api/logs.js';
import { readLogs } from '../../broker/logs/reader.js';
import { allEvents, numbers } from './logs-fixtures/moto-events.js';
import { cloudWatchSetup } from './logs-fixtures/cloudwatch-setup.js';

const HOUR = 3_600_000;

const setup = cloudWatchSetup;

void t.test('20,000 numbered lines reach the right group and stream in order, readable back; retention is 30 days', async (t) => {
  const { proxy, client, log } = await setup(t);
  const shipper = createLogShipper({
    spoolDir: t.testdir(),
    sink: createCloudWatchSink({ client, log }),
    group: '/skiff/ws-test',
    stream: 'worker-1',
    log,
    flushIntervalMs: 100,
  });
  t.teardown(() => shipper.close());
  for (let i = 0; i < 20_000; i++) shipper.write('dask-worker:stdout', `n ${i}`);
  t.equal(await shipper.flush(60_000), true, 'everything shipped');

  const stored = await allEvents(client, '/skiff/ws-test', 'worker-1');
  t.same(numbers(stored), Array.from({ length: 20_000 }, (_, i) => i), 'all 20,000, once each, in order');
  t.equal(stored[0]!.message, '[dask-worker:stdout] n 0');
  t.ok(proxy.counts.forwarded >= 2, `${proxy.counts.forwarded} puts (at most 10,000 events each)`);
  t.equal(proxy.counts.invalid, 0, `no batch broke a rule: ${proxy.violations.join('; ')}`);

  const groups = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/skiff/ws-test' }));
  t.equal(groups.logGroups?.[0]?.retentionInDays, 30);

  const read = await collect(readLogs({ source: 'cloudwatch', client, group: '/skiff/ws-test' }));
  t.same(numbers(read), Array.from({ length: 20_000 }, (_, i) => i), 'readLogs returns the same 20,000 in order');
  t.ok(read.every((e) => e.stream === 'worker-1'));
  const filtered = await collect(readLogs({ source: 'cloudwatch', client, group: '/skiff/ws-test', filter: 'n 1999' }));
  t.same(filtered.map((e) => e.message), ['[dask-worker:stdout] n 1999', ...Array.from({ length: 10 }, (_, i) => `[dask-worker:stdout] n 1999${i}`)]);
});

void t.test('a 3 MB line, a 30 h span, out-of-order timestamps and invalid UTF-8 are all stored correctly', async (t) => {
  const { proxy, client, log } = await setup(t);
  const shipper = createLogShipper({
    spoolDir: t.testdir(),
    sink: createCloudWatchSink({ client, log }),
    group: 'ws-hard',
    stream: 'scheduler',
    log,
    flushIntervalMs: 100,
  });
  t.teardown(() => shipper.close());
  const now = Date.now();
  const big = Array.from({ length: 3 * 1024 * 1024 / 16 }, (_, i) => `${String(i).padStart(15, '0')}|`).join('');
  shipper.write('', big, now - 31 * HOUR);
  shipper.write('', 'thirty hours ago', now - 30 * HOUR);
  shipper.write('', 'ten hours ago', now - 10 * HOUR);
  shipper.write('', 'now', now);
  shipper.write('', 'five minutes ago but arrived later', now - 5 * 60_000);
  shipper.write('', Buffer.from([0x62, 0x61, 0x64, 0xff, 0xc3, 0x28, 0x21]), now);
  t.equal(await shipper.flush(60_000), true);
  t.equal(proxy.counts.invalid, 0, `no batch broke a rule: ${proxy.violations.join('; ')}`);

  const stored = await allEvents(client, 'ws-hard', 'scheduler');
  const parts = stored.filter((e) => e.timestamp === now - 31 * HOUR);
  t.equal(parts.length, 13, 'the 3 MB line is 13 events');
  t.ok(parts.map((e) => e.message).join('') === big, 'whose concatenation is the line');
  const rest = stored.filter((e) => e.timestamp !== now - 31 * HOUR);
  t.same(rest.map((e) => e.message), ['thirty hours ago', 'ten hours ago', 'now', 'five minutes ago but arrived later', 'bad\uFFFD\uFFFD(!']);
  t.same(rest.map((e) => e.timestamp), [now - 30 * HOUR, now - 10 * HOUR, now, now, now], 'the late line is clamped to keep the stream chronological');
  t.equal(shipper.stats().rejectedEvents, 0);
});

void t.test('events older than CloudWatch accepts are reported precisely and do not block the lines after them', async (t) => {
  const { client, log } = await setup(t);
  const shipper = createLogShipper({
    spoolDir: t.testdir(),
    sink: createCloudWatchSink({ client, log }),
    group: 'ws-old',
    stream: 'scheduler',
    log,
    flushIntervalMs: 100,
  });
  t.teardown(() => shipper.close());
  const now = Date.now();
  shipper.write('', 'ancient 1', now - 20 * 24 * HOUR);
  shipper.write('', 'ancient 2', now - 20 * 24 * HOUR + 1);
  shipper.write('', 'fresh', now);
  t.equal(await shipper.flush(60_000), true);
  t.same((await allEvents(client, 'ws-old', 'scheduler')).map((e) => e.message), ['fresh']);
  // AWS documents tooOldLogEventEndIndex as exclusive (events [0, i) were too old); moto 5 answers the last
  // too-old index instead, so against moto one of the two is counted. The raw index is logged as received.
  t.ok(shipper.stats().rejectedEvents >= 1, 'the refusal is counted');
  const warn = log.entries.find((e) => e.msg.includes('refused some events'));
  t.match(warn?.obj, { group: 'ws-old', stream: 'scheduler', tooOldEndIndex: 1, tooNew: 0 });
});

void t.test('skiff logs reads one cluster across machines in time order, and follows new lines', async (t) => {
  const { client, log } = await setup(t);
  const group = logGroupFor('team');
  const sink = createCloudWatchSink({ client, log });
  const ship = (cluster: string, machine: string) => {
    const s = createLogShipper({ spoolDir: t.testdir() + `-${cluster}-${machine}`, sink, group, stream: logStreamFor(cluster, machine), log, flushIntervalMs: 50 });
    t.teardown(() => s.close());
    return s;
  };
  const sched = ship('c-1', 'scheduler');
  const worker = ship('c-1', 'worker-1');
  const other = ship('c-2', 'scheduler');
  const now = Date.now();
  sched.write('', 'a scheduler up', now);
  worker.write('', 'b worker up', now + 1);
  sched.write('', 'c task assigned', now + 2);
  other.write('', 'another cluster', now + 3);
  worker.write('', 'd task done', now + 4);
  for (const s of [sched, worker, other]) t.equal(await s.flush(30_000), true);

  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const seen: string[] = [];
  for await (const e of readLogs({ source: 'cloudwatch', client, group, streamPrefix: clusterStreamPrefix('c-1'), follow: true, pollMs: 100, signal: ac.signal })) {
    seen.push(`${e.stream} ${e.message}`);
    if (seen.length === 4) {
      worker.write('', 'e followed line', Date.now());
      t.equal(await worker.flush(30_000), true);
    }
    if (seen.length === 5) ac.abort();
  }
  t.same(seen, ['c-1/scheduler a scheduler up', 'c-1/worker-1 b worker up', 'c-1/scheduler c task assigned', 'c-1/worker-1 d task done', 'c-1/worker-1 e followed line']);
  const one = await collect(readLogs({ source: 'cloudwatch', client, group, streams: [logStreamFor('c-1', 'worker-1')], sinceMs: now + 2 }));
  t.same(one.map((e) => e.message), ['d task done', 'e followed line'], 'one machine, from a time');
  await t.rejects(collect(readLogs({ source: 'cloudwatch', client, group: '/skiff/nobody' })), { code: 'BRK_NOT_FOUND' });
});
