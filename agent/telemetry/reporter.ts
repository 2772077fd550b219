// The agent's telemetry loops, every `intervalMs` (default 5 s), one tick at a time (a slow tick delays the
// next, never overlaps it):
//   worker:    collect machine + GPUs ─► link to the scheduler's telemetry server
//   scheduler: collect machine + GPUs ─► aggregator ◄─ worker reports (server)
//              read Dask counts ─► fail-safe; aggregator.summarize ─► link to the broker

import type { Logger } from 'pino';
import type { Aggregator } from './aggregate.js';
import type { DaskActivity, GpuSample, MachineMetrics, MachineReport } from '../../broker/api/telemetry.js';

export interface MachineSources {
  machine: string;
  collectMetrics: () => Promise<MachineMetrics>;
  queryGpus: () => Promise<GpuSample[]>;
  daskUp: () => boolean;
  now?: () => number;
}

export async function buildMachineReport(s: MachineSources): Promise<MachineReport> {
  const [metrics, gpus] = await Promise.all([s.collectMetrics(), s.queryGpus()]);
  return { v: 1, kind: 'machine', machine: s.machine, atMs: (s.now ?? Date.now)(), metrics, gpus, daskUp: s.daskUp() };
}

export interface Periodic {
  stop(): void;
}

/** Runs `tick` now and then `intervalMs` after each tick ends; errors are logged, the loop goes on. */
export function every(intervalMs: number, tick: () => Promise<void>, log: Logger): Periodic {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = (): void => {
    if (stopped) return;
    tick()
      .catch((err: unknown) => log.warn({ err }, 'telemetry tick failed'))
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(loop, intervalMs);
        timer.unref();
      });
  };
  loop();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export function startWorkerReporter(o: MachineSources & { intervalMs?: number; send: (r: MachineReport) => void; log: Logger }): Periodic {
  return every(o.intervalMs ?? 5000, async () => o.send(await buildMachineReport(o)), o.log);
}

export interface SchedulerReporterOptions extends MachineSources {
  intervalMs?: number;
  aggregator: Aggregator;
  readDask: () => Promise<DaskActivity>;
  /** The fail-safe's observe: activity seen locally, whether or not the broker is reachable. */
  onDask?: (a: DaskActivity) => void;
  send: (summary: object) => void;
  log: Logger;
}

export function startSchedulerReporter(o: SchedulerReporterOptions): Periodic {
  const now = o.now ?? Date.now;
  return every(o.intervalMs ?? 5000, async () => {
    const [own, dask] = await Promise.all([buildMachineReport(o), o.readDask()]);
    o.aggregator.record(own, now());
    o.onDask?.(dask);
    o.send(o.aggregator.summarize(dask, now()));
  }, o.log);
}
