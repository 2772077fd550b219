import t from 'tap';
import { parseNvidiaSmiCsv } from '../../../../agent/metrics/gpus.js';
import { activityFromCounts } from '../../../../agent/metrics/dask.js';
import { collectMachineMetrics, type SystemInfo } from '../../../../agent/metrics/machine.js';

t.test('parses nvidia-smi csv (noheader, nounits), one GPU per line', async (t) => {
  const text = '0, NVIDIA A10G, 2, 1024, 23028\n1, NVIDIA A10G, 97, 20011, 23028\n';
  t.same(parseNvidiaSmiCsv(text), [
    { index: 0, name: 'NVIDIA A10G', utilizationPct: 2, memoryUsedMiB: 1024, memoryTotalMiB: 23028 },
    { index: 1, name: 'NVIDIA A10G', utilizationPct: 97, memoryUsedMiB: 20011, memoryTotalMiB: 23028 },
  ]);
});

t.test('skips lines nvidia-smi fills with [N/A] or errors, keeps the rest', async (t) => {
  const text = '0, NVIDIA A10G, [N/A], 1024, 23028\nNo devices were found\n\n1, Tesla T4, 0, 0, 15360\n';
  t.same(parseNvidiaSmiCsv(text).map((g) => g.index), [1]);
  t.same(parseNvidiaSmiCsv(''), []);
});

t.test('Dask counts: the scheduler\'s own client is not a user, held-back tasks count as queued', async (t) => {
  // Recorded from distributed 2022.12.1: nobody connected, then one client with 4 tasks on a 1-thread worker.
  t.same(activityFromCounts({ clients: 1, processing: 0, tasks: 0, waiting: 0, workers: 1 }), { tasksProcessing: 0, tasksQueued: 0, tasksNoWorker: 0, clients: 0, workers: 1 });
  t.same(activityFromCounts({ clients: 2, processing: 2, tasks: 4, waiting: 0, memory: 0, released: 0, erred: 0, unrunnable: 0, workers: 1 }), { tasksProcessing: 2, tasksQueued: 2, tasksNoWorker: 0, clients: 1, workers: 1 });
  t.same(activityFromCounts({ clients: 2, processing: 0, tasks: 4, memory: 4, workers: 1 }), { tasksProcessing: 0, tasksQueued: 0, tasksNoWorker: 0, clients: 1, workers: 1 }, 'finished results in memory are not activity');
  t.same(activityFromCounts({ clients: 2, tasks: 3, unrunnable: 3, workers: 0 }).tasksNoWorker, 3);
});

t.test('machine metrics: root disk, network without loopback, missing rates as 0', async (t) => {
  const fake: SystemInfo = {
    currentLoad: () => Promise.resolve({ currentLoad: 37.26 }),
    mem: () => Promise.resolve({ total: 16e9, active: 4e9 }),
    fsSize: () => Promise.resolve([{ mount: '/boot', size: 1e9, used: 1e8 }, { mount: '/', size: 100e9, used: 40e9 }]),
    networkStats: () => Promise.resolve([{ iface: 'lo', rx_sec: 1e9, tx_sec: 1e9 }, { iface: 'eth0', rx_sec: 1000.4, tx_sec: null }]),
  };
  t.same(await collectMachineMetrics(fake), {
    cpuLoadPct: 37.3, memUsedBytes: 4e9, memTotalBytes: 16e9, diskUsedBytes: 40e9, diskTotalBytes: 100e9, netRxBytesPerS: 1000, netTxBytesPerS: 0,
  });
});
