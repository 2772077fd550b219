import t from 'tap';
import { until } from '../helpers/wait.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { startMoto } from '../helpers/moto.js';
import { createCloudWatchLogsClient, createCloudWatchSink, createLogShipper } from '../../agent/logs/index.js';
import { allEvents, numbers } from './logs-fixtures/moto-events.js';
import { cloudWatchSetup } from './logs-fixtures/cloudwatch-setup.js';
import { fakeLog } from '../unit/agent/logs/fixtures/fake-log.js';

const MB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Live memory after a full collection: what the process holds on to, not garbage it has not swept yet. */
function liveBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

void t.test('through 503s and throttling every line arrives once CloudWatch is back, and memory stays bounded', async (t) => {
  const { proxy, client, log } = await cloudWatchSetup(t);
  const shipper = createLogShipper({
    spoolDir: t.testdir(),
    sink: createCloudWatchSink({ client, log }),
    group: 'ws-outage',
    stream: 'scheduler',
    log,
    flushIntervalMs: 100,
    backoffMaxMs: 1000,
  });
  t.teardown(() => shipper.close());

  proxy.mode = 'unavailable';
  const LINES = 100_000; // 1 KB each: 100 MB, all of it waiting while the store is down
  const pad = 'x'.repeat(1000);
  const baseLive = liveBytes();
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  for (let i = 0; i < LINES; i++) {
    shipper.write('dask', `n ${i} ${pad}`);
    if (i % 2000 === 0) {
      if (i === LINES / 2) proxy.mode = 'throttle';
      await sleep(1); // let the spool write and the shipper retry, as a real agent's event loop would
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  }
  await until(() => proxy.counts.outage >= 6, 30_000);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  t.ok(shipper.stats().pendingBytes > 90 * MB, `${Math.round(shipper.stats().pendingBytes / MB)} MB wait in the spool on disk`);
  const grown = liveBytes() - baseLive;
  // The point: the 100 MB waiting are on disk, not in memory. The slack over the shipper's own buffers covers what the
  // SDK loads on its first send and a busy machine's GC (16 MB was once exceeded by 5 MB with two test files running).
  t.ok(grown < 32 * MB, `live memory grew ${Math.round(grown / MB)} MB (resident peak +${Math.round((peakRss - baseRss) / MB)} MB) while 100 MB waited`);
  t.ok(log.entries.some((e) => e.msg === 'could not ship logs, will retry'), 'the outage is logged');

  proxy.mode = 'pass';
  t.equal(await shipper.flush(120_000), true, 'the backlog ships once the store answers');
  const got = numbers(await allEvents(client, 'ws-outage', 'scheduler'));
  t.equal(got.length, LINES);
  t.ok(got.every((n, i) => n === i), 'every line, once, in order');
  t.equal(proxy.counts.invalid, 0);
  t.equal(shipper.stats().failedEvents, 0);
});

void t.test('when the store restarts empty the shipper recreates group (retention 30) and stream and carries on', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const client = createCloudWatchLogsClient(moto.clientConfig);
  t.teardown(() => client.destroy());
  const log = fakeLog();
  const shipper = createLogShipper({
    spoolDir: t.testdir(),
    sink: createCloudWatchSink({ client, log, timeoutMs: 2000 }),
    group: 'ws-restart',
    stream: 'worker-2',
    log,
    flushIntervalMs: 100,
    backoffMaxMs: 500,
  });
  t.teardown(() => shipper.close());
  for (let i = 0; i < 100; i++) shipper.write('w', `n ${i}`);
  t.equal(await shipper.flush(30_000), true);

  await moto.stop();
  for (let i = 100; i < 200; i++) shipper.write('w', `n ${i}`);
  t.equal(await shipper.flush(1500), false, 'nothing ships while the store is down');
  await moto.restart();
  t.equal(await shipper.flush(60_000), true, 'the lines written during the outage ship after it');

  t.same(numbers(await allEvents(client, 'ws-restart', 'worker-2')), Array.from({ length: 100 }, (_, i) => 100 + i));
  const groups = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: 'ws-restart' }));
  t.equal(groups.logGroups?.[0]?.retentionInDays, 30);
});
