// On the scheduler machine: waits for the scheduler's HTTP server to answer /health, then reports to the
// broker that the scheduler is ready and, whenever it changes, how many workers are connected (read from
// the scheduler's own /json/counts.json, so "connected" means Dask itself says so).

import type { Logger } from 'pino';
import type { AgentEvent } from '../broker/api/wire.js';

export interface SchedulerWatchOptions {
  httpBase: string;
  report: (e: AgentEvent) => Promise<void>;
  log: Logger;
  /** While the cluster is forming (default 200 ms): `skiff up` returns as soon as the workers are in. */
  intervalMs?: number;
  /** Once nothing has changed for `settleMs` (default 30 s): a running cluster needs no fast polling. */
  settledIntervalMs?: number;
  settleMs?: number;
  now?: () => number;
  /** Told each new worker count once the broker has it (the version check follows it). */
  onWorkers?: (count: number) => void;
  /** For the scheduler's HTTP server (its guard's token); default the global fetch. */
  fetch?: typeof fetch;
  /** The worker count the broker asked for: while Dask has another, polling stays fast (a scale step shows soon). */
  wanted?: () => number | undefined;
}

export function watchScheduler(opts: SchedulerWatchOptions): { stop(): void } {
  const intervalMs = opts.intervalMs ?? 200;
  const f = opts.fetch ?? fetch;
  const settledIntervalMs = opts.settledIntervalMs ?? 5000;
  const settleMs = opts.settleMs ?? 30_000;
  const now = opts.now ?? Date.now;
  let lastChangeMs = now();
  let ready = false;
  let lastWorkers = -1;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const tick = async (): Promise<void> => {
    try {
      if (!ready) {
        const res = await f(`${opts.httpBase}/health`, { signal: AbortSignal.timeout(2000) });
        if (!res.ok) return;
        await opts.report({ kind: 'ready' });
        ready = true;
        lastChangeMs = now();
        opts.log.info({}, 'scheduler ready');
      }
      const res = await f(`${opts.httpBase}/json/counts.json`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return;
      const counts = (await res.json()) as { workers?: number };
      const workers = counts.workers ?? 0;
      if (workers !== lastWorkers) {
        await opts.report({ kind: 'workers', count: workers });
        lastWorkers = workers;
        lastChangeMs = now();
        opts.log.info({ workers }, 'workers connected');
        opts.onWorkers?.(workers);
      }
    } catch {
      // not up yet, or the broker is away: try again next tick
    }
  };

  const loop = (): void => {
    if (stopped) return;
    void tick().finally(() => {
      if (!stopped) {
        const w = opts.wanted?.();
        const settled = ready && now() - lastChangeMs > settleMs && (w === undefined || w === lastWorkers);
        timer = setTimeout(loop, settled ? settledIntervalMs : intervalMs);
        timer.unref();
      }
    });
  };
  loop();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
