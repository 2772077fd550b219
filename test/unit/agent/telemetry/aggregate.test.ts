import t from 'tap';
import { createAggregator } from '../../../../agent/telemetry/aggregate.js';
import { parseMachineReport, parseSummary } from '../../../../broker/api/telemetry-validate.js';
import type { MachineReport } from '../../../../broker/api/telemetry.js';

const report = (machine: string, utils: number[], cpu = 10): MachineReport => ({
  v: 1, kind: 'machine', machine, atMs: 0, daskUp: true,
  gpus: utils.map((u, index) => ({ index, name: 'NVIDIA A10G', utilizationPct: u, memoryUsedMiB: 1000, memoryTotalMiB: 23028 })),
  metrics: { cpuLoadPct: cpu, memUsedBytes: 1, memTotalBytes: 4, diskUsedBytes: 1, diskTotalBytes: 2, netRxBytesPerS: 0, netTxBytesPerS: 0 },
});
const dask = { tasksProcessing: 0, tasksQueued: 0, tasksNoWorker: 0, clients: 1, workers: 2 };

t.test('sums the latest report of each machine into one cluster summary', async (t) => {
  const a = createAggregator({ staleAfterMs: 30_000 });
  a.record(report('scheduler', [], 2), 1000);
  a.record(report('worker-1', [2, 4], 50), 1000);
  a.record(report('worker-1', [10, 20], 40), 2000); // replaces the earlier one
  a.record(report('worker-2', [90], 30), 2000);
  const s = a.summarize(dask, 3000);
  t.equal(s.machines, 3);
  t.same(s.gpus, { count: 3, avgUtilizationPct: 40, memoryUsedMiB: 3000, memoryTotalMiB: 3 * 23028 });
  t.equal(s.cpuLoadPct, 24);
  t.equal(parseSummary(JSON.stringify(s)).ok, true, 'what it builds passes the broker\'s schema');
});

t.test('a machine that stopped reporting drops out of the summary', async (t) => {
  const a = createAggregator({ staleAfterMs: 30_000 });
  a.record(report('worker-1', [2]), 0);
  a.record(report('worker-2', [80]), 25_000);
  const s = a.summarize(dask, 40_000);
  t.equal(s.machines, 1);
  t.equal(s.gpus.avgUtilizationPct, 80);
});

t.test('the schema refuses what a broken or hostile sender might send', async (t) => {
  t.equal(parseMachineReport(JSON.stringify(report('w', [5]))).ok, true);
  const bad: Array<[string, unknown]> = [
    ['an array', []],
    ['wrong kind', { ...report('w', []), kind: 'summary' }],
    ['too many GPUs', report('w', new Array<number>(65).fill(1))],
    ['a very long name', report('w'.repeat(500), [])],
    ['NaN as a string', { ...report('w', []), atMs: 'NaN' }],
    ['daskUp not boolean', { ...report('w', []), daskUp: 'yes' }],
  ];
  for (const [name, value] of bad) {
    const r = parseMachineReport(JSON.stringify(value));
    t.equal(r.ok, false, name);
  }
  const r = parseMachineReport('{');
  t.same(r, { ok: false, error: 'not JSON' });
});
