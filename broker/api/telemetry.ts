// Telemetry messages: worker agent → scheduler agent (MachineReport) and scheduler agent → broker
// (TelemetrySummary). Both sides import this file (the lead moves the summary into broker/api/wire.ts), so a
// change here is a protocol change: keep fields additive and bump `v` only for a breaking change.

/** One GPU as nvidia-smi reports it. Memory in MiB, as nvidia-smi prints it with `nounits`. */
export interface GpuSample {
  index: number;
  name: string;
  utilizationPct: number;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
}

/** What systeminformation says about one machine. Percentages 0..100; rates in bytes per second. */
export interface MachineMetrics {
  cpuLoadPct: number;
  memUsedBytes: number;
  memTotalBytes: number;
  diskUsedBytes: number;
  diskTotalBytes: number;
  netRxBytesPerS: number;
  netTxBytesPerS: number;
}

/** Sent by every agent (workers over the telemetry WebSocket; the scheduler's own machine in-process). */
export interface MachineReport {
  v: 1;
  kind: 'machine';
  /** Machine name, e.g. worker-1. */
  machine: string;
  /** Sender's clock, ms since the epoch. */
  atMs: number;
  metrics: MachineMetrics;
  gpus: GpuSample[];
  /** The supervised Dask process is running. */
  daskUp: boolean;
}

/** Dask's own view, from the scheduler's /json/counts.json. */
export interface DaskActivity {
  tasksProcessing: number;
  /** Waiting for dependencies or queued by the scheduler (not yet sent to a worker). */
  tasksQueued: number;
  /** No worker can run them (e.g. no worker with the resources). */
  tasksNoWorker: number;
  /** Connected Dask clients, the scheduler's internal fire-and-forget client not counted. */
  clients: number;
  workers: number;
}

/** One per cluster, every few seconds, scheduler agent → broker. */
export interface TelemetrySummary {
  v: 1;
  kind: 'summary';
  /** Scheduler machine's clock, ms since the epoch (the broker uses its own clock for heartbeats). */
  atMs: number;
  dask: DaskActivity;
  /** Machines that reported within the last few intervals, the scheduler's own included. */
  machines: number;
  /** Mean CPU load over those machines, 0..100. */
  cpuLoadPct: number;
  memUsedBytes: number;
  memTotalBytes: number;
  /** GPUs over all machines; avgUtilizationPct is meaningless (0) when count is 0. */
  gpus: { count: number; avgUtilizationPct: number; memoryUsedMiB: number; memoryTotalMiB: number };
}
