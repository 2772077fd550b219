// On the scheduler machine: the latest report of every machine, summed into one cluster summary. Reports
// older than `staleAfterMs` (a machine that went away) no longer count. Bounded by `maxMachines`.

import type { DaskActivity, MachineReport, TelemetrySummary } from '../../broker/api/telemetry.js';

export interface Aggregator {
  record(report: MachineReport, receivedAtMs: number): void;
  summarize(dask: DaskActivity, nowMs: number): TelemetrySummary;
  machines(): number;
}

export function createAggregator(o: { staleAfterMs?: number; maxMachines?: number } = {}): Aggregator {
  const staleAfterMs = o.staleAfterMs ?? 30_000;
  const maxMachines = o.maxMachines ?? 2000;
  const latest = new Map<string, { report: MachineReport; atMs: number }>();
  return {
    record(report, receivedAtMs) {
      if (!latest.has(report.machine) && latest.size >= maxMachines) return;
      latest.set(report.machine, { report, atMs: receivedAtMs });
    },
    machines: () => latest.size,
    summarize(dask, nowMs) {
      let machines = 0;
      let cpu = 0;
      let memUsed = 0;
      let memTotal = 0;
      let gpuCount = 0;
      let gpuUtil = 0;
      let gpuUsed = 0;
      let gpuTotal = 0;
      for (const [name, { report, atMs }] of latest) {
        if (nowMs - atMs > staleAfterMs) {
          latest.delete(name);
          continue;
        }
        machines++;
        cpu += report.metrics.cpuLoadPct;
        memUsed += report.metrics.memUsedBytes;
        memTotal += report.metrics.memTotalBytes;
        for (const g of report.gpus) {
          gpuCount++;
          gpuUtil += g.utilizationPct;
          gpuUsed += g.memoryUsedMiB;
          gpuTotal += g.memoryTotalMiB;
        }
      }
      return {
        v: 1, kind: 'summary', atMs: nowMs, dask, machines,
        cpuLoadPct: machines === 0 ? 0 : Math.round((cpu / machines) * 10) / 10,
        memUsedBytes: memUsed, memTotalBytes: memTotal,
        gpus: { count: gpuCount, avgUtilizationPct: gpuCount === 0 ? 0 : Math.round((gpuUtil / gpuCount) * 10) / 10, memoryUsedMiB: gpuUsed, memoryTotalMiB: gpuTotal },
      };
    },
  };
}
