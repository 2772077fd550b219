// nvidia-smi as a real child process (the recorded-output fixture on PATH), into the watchdog (fake clock),
// out to a real webhook receiver on 127.0.0.1.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { logSink } from '../helpers/log-sink.js';
import { queryGpus } from '../../agent/metrics/gpus.js';
import { collectMachineMetrics } from '../../agent/metrics/machine.js';
import { createAggregator } from '../../agent/telemetry/aggregate.js';
import { createWatchdog } from '../../broker/watchdog/watchdog.js';
import { createWebhookNotifier } from '../../broker/watchdog/notify.js';

const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'nvidia-smi');
const S = 1000;
const M = 60 * S;

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${FIXTURE_DIR}:${process.env['PATH'] ?? ''}`, ...extra };
}

t.test('reads the GPUs nvidia-smi reports', async (t) => {
  const gpus = await queryGpus({ env: env({ FAKE_NVIDIA_SMI_UTIL: '80', FAKE_NVIDIA_SMI_GPUS: '4' }) });
  t.equal(gpus.length, 4);
  t.same(gpus[0], { index: 0, name: 'NVIDIA A10G', utilizationPct: 80, memoryUsedMiB: 1024, memoryTotalMiB: 23028 });
});

t.test('no nvidia-smi on the machine means no GPU, quietly', async (t) => {
  const { log, lines } = logSink();
  t.same(await queryGpus({ command: join(FIXTURE_DIR, 'no-such-nvidia-smi'), log }), []);
  t.equal(lines.length, 0);
});

t.test('a hanging nvidia-smi is killed after the timeout: no GPU this time, one warning', async (t) => {
  const { log, lines } = logSink();
  const gpus = await queryGpus({ env: env({ FAKE_NVIDIA_SMI_HANG: '1' }), timeoutMs: 500, log });
  t.same(gpus, []);
  t.equal(lines.length, 1);
  t.equal(lines[0]?.['msg'], 'could not read GPUs; reporting none this time');
  t.equal(lines[0]?.['reason'], 'timeout');
});

t.test('machine metrics from this machine are plausible', async (t) => {
  const m = await collectMachineMetrics();
  t.ok(m.memTotalBytes > 0 && m.memUsedBytes <= m.memTotalBytes, 'memory');
  t.ok(m.diskTotalBytes > 0, 'disk');
  t.ok(m.cpuLoadPct >= 0 && m.cpuLoadPct <= 100, 'cpu');
});

for (const [util, want] of [['2', 1], ['80', 0]] as const) {
  t.test(`a worker whose GPU runs at ${util}% for the window: ${want} webhook alert(s)`, async (t) => {
    const received: Array<Record<string, unknown>> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { log } = logSink();
    const notifier = createWebhookNotifier({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, log });

    let nowMs = Date.parse('2026-11-26T12:00:00Z');
    const watchdog = createWatchdog({
      now: () => nowMs, log, onStop: () => undefined,
      onAlert: (clusterId, reason) => notifier.send({ at: new Date(nowMs).toISOString(), clusterId, kind: 'alert', reason }),
    });
    watchdog.track('cgpu', { idleTimeoutMs: 10 * 60 * M, noClientTimeoutMs: 10 * 60 * M });
    const aggregator = createAggregator({ staleAfterMs: 60 * S });
    // 20 minutes of 5 s reports, each from the real fixture process, checked every 5 s.
    const gpuEnv = env({ FAKE_NVIDIA_SMI_UTIL: util });
    let answered = 0;
    for (let step = 0; step < (20 * M) / (5 * S); step++) {
      nowMs += 5 * S;
      const gpus = await queryGpus({ env: gpuEnv, log });
      answered += gpus.length;
      aggregator.record({ v: 1, kind: 'machine', machine: 'worker-1', atMs: nowMs, gpus, daskUp: true, metrics: { cpuLoadPct: 1, memUsedBytes: 1, memTotalBytes: 2, diskUsedBytes: 1, diskTotalBytes: 2, netRxBytesPerS: 0, netTxBytesPerS: 0 } }, nowMs);
      watchdog.observe('cgpu', aggregator.summarize({ tasksProcessing: 1, tasksQueued: 0, tasksNoWorker: 0, clients: 1, workers: 1 }, nowMs));
      watchdog.check();
    }
    await notifier.idle();
    t.equal(answered, 240, 'nvidia-smi answered all 240 queries');
    t.equal(received.length, want);
    if (want === 1) t.match(received[0]?.['text'], /^skiff: cluster cgpu alert: 1 GPU averaged 2% utilization over 15m \(alert threshold 10%\)$/);
  });
}
