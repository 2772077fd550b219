// The cluster never outlives its control plane: when the link upstream (scheduler → broker, or worker →
// scheduler) has been down longer than the heartbeat limit, the agent applies the idle rule itself and
// shuts its machine down. A worker passes idleTimeoutMs 0: its scheduler gone that long is reason enough.

import type { Logger } from 'pino';
import { formatDuration } from '../../broker/api/durations.js';
import type { DaskActivity } from '../../broker/api/telemetry.js';

export interface FailSafeOptions {
  heartbeatLimitMs: number;
  idleTimeoutMs: number;
  /** When the upstream link went down; undefined while it is up (Link.downSinceMs). */
  linkDownSinceMs: () => number | undefined;
  shutdown: (reason: string) => void;
  now?: () => number;
  log: Logger;
  /** Default 5 s. */
  checkIntervalMs?: number;
}

export interface FailSafe {
  /** Latest Dask activity (scheduler only). */
  observe(activity: DaskActivity): void;
  check(): void;
  start(): void;
  stop(): void;
}

export function createFailSafe(o: FailSafeOptions): FailSafe {
  const now = o.now ?? Date.now;
  let lastActiveMs = now();
  let fired = false;
  let timer: NodeJS.Timeout | undefined;

  const check = (): void => {
    if (fired) return;
    const t = now();
    const down = o.linkDownSinceMs();
    if (down === undefined || t - down < o.heartbeatLimitMs) return;
    if (t - lastActiveMs < o.idleTimeoutMs) return;
    fired = true;
    const reason = o.idleTimeoutMs > 0
      ? `idle for ${formatDuration(o.idleTimeoutMs)} while the broker was unreachable for ${formatDuration(o.heartbeatLimitMs)}`
      : `upstream unreachable for ${formatDuration(o.heartbeatLimitMs)}`;
    o.log.warn({ reason, downSinceMs: down }, 'fail-safe: shutting down');
    o.shutdown(reason);
  };

  return {
    observe(a) {
      if (a.tasksProcessing + a.tasksQueued + a.tasksNoWorker > 0) lastActiveMs = now();
    },
    check,
    start() {
      timer ??= setInterval(check, o.checkIntervalMs ?? 5000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
