// A child process for the kill -9 test: a log shipper on a spool dir, shipping to CloudWatch (the endpoint in
// AWS_ENDPOINT_URL), that writes lines `n <i>` for i in [from, to) in small bursts and reports progress as JSON
// lines on stdout: {"written": i} once line i-1 is handed to the spool, {"shipped": n} as batches are accepted.
// Usage: node --import tsx ship-numbered.ts <spoolDir> <group> <stream> <from> <to>
import { setImmediate as tick } from 'node:timers/promises';
import { createCloudWatchLogsClient, createCloudWatchSink, createLogShipper } from '../../../agent/logs/index.js';

const [spoolDir, group, stream, fromArg, toArg] = process.argv.slice(2);
const from = Number(fromArg);
const to = Number(toArg);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const client = createCloudWatchLogsClient({
  endpoint: process.env['AWS_ENDPOINT_URL']!,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
const shipper = createLogShipper({
  spoolDir: spoolDir!,
  group: group!,
  stream: stream!,
  sink: createCloudWatchSink({ client, log: silent }),
  log: silent,
  flushIntervalMs: 100,
});
const report = (o: object): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);
const timer = setInterval(() => report({ shipped: shipper.stats().shippedEvents }), 50);

for (let i = from; i < to; i++) {
  shipper.write('numbers', `n ${i} ${'.'.repeat(150)}`);
  if (i % 200 === 199 || i === to - 1) {
    await tick(); // the spool hands the burst to the kernel at the end of this turn
    await tick();
    report({ written: i + 1 });
    await new Promise((r) => setTimeout(r, 5));
  }
}
const ok = await shipper.flush(60_000);
await shipper.close();
clearInterval(timer);
report({ done: ok, stats: shipper.stats() });
