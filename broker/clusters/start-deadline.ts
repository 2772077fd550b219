// The broker's start deadlines: one timer per cluster that is not running yet. The deadline itself is in the
// cluster record (so a restarted broker re-arms it); this only turns "that moment has come" into a call.
// A cluster never waits on a CLI that may have gone away: `up --no-wait`, a closed laptop, a killed
// terminal all end the same way, failed at the deadline with its machines stopped.

export interface StartDeadlines {
  /** Call onExpire(clusterId) at `atMs` (at once when it has passed). Re-arming replaces the timer. */
  arm(clusterId: string, atMs: number): void;
  disarm(clusterId: string): void;
  close(): void;
}

export interface StartDeadlineOptions {
  now: () => number;
  onExpire: (clusterId: string) => void;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

// setTimeout holds at most 2^31-1 ms; a longer wait re-arms itself from the remaining time.
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createStartDeadlines(o: StartDeadlineOptions): StartDeadlines {
  const setTimer = o.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms).unref());
  const clearTimer = o.clearTimer ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout));
  const timers = new Map<string, unknown>();
  const disarm = (id: string): void => {
    const h = timers.get(id);
    if (h !== undefined) clearTimer(h);
    timers.delete(id);
  };
  const arm = (id: string, atMs: number): void => {
    disarm(id);
    const waitMs = Math.max(0, atMs - o.now());
    timers.set(
      id,
      setTimer(() => {
        timers.delete(id);
        if (o.now() < atMs) arm(id, atMs);
        else o.onExpire(id);
      }, Math.min(waitMs, MAX_TIMER_MS)),
    );
  };
  return {
    arm,
    disarm,
    close() {
      for (const id of [...timers.keys()]) disarm(id);
    },
  };
}
